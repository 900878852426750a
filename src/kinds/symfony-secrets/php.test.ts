import { describe, expect, it } from "vitest";
import {
  MAX_PHP_FILE_BYTES,
  PhpParseError,
  parsePhpListFile,
  parsePhpStringFile,
  phpStringLiteral,
  renderDecryptionKeyFile,
} from "./php.js";

describe("parsePhpStringFile", () => {
  it("reads Symfony's \\xHH form, comments and the key file's SYMFONY_DECRYPTION_SECRET line", () => {
    const text = `<?php // prod.decrypt.private on Sat, 28 Nov 2026 02:15:00 +0000\n\n// SYMFONY_DECRYPTION_SECRET=AAEC\nreturn "\\x00\\x01A-_.~\\xFF";\n`;
    expect([...parsePhpStringFile(Buffer.from(text))]).toEqual([0, 1, 0x41, 0x2d, 0x5f, 0x2e, 0x7e, 0xff]);
  });

  it("round-trips every byte through the Symfony literal", () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(parsePhpStringFile(`<?php return ${phpStringLiteral(all)};`).equals(all)).toBe(true);
    expect(parsePhpStringFile(`<?php return "";`).length).toBe(0);
  });

  it("understands the other PHP escapes and single quotes", () => {
    expect(parsePhpStringFile(`<?php return "a\\n\\t\\\\\\$\\"\\101\\u{e9}\\q";`).toString("utf8")).toBe(
      'a\n\t\\$"Aé\\q',
    );
    expect(parsePhpStringFile(`<?php /* c */ return 'it\\'s $x \\n';`).toString()).toBe("it's $x \\n");
  });

  it("refuses what it cannot read exactly", () => {
    expect(() => parsePhpStringFile(`<?php return "$x";`)).toThrow(/interpolation/);
    expect(() => parsePhpStringFile(`<?php return "abc`)).toThrow(/unterminated/);
    expect(() => parsePhpStringFile(`<?php return "a"; echo 1;`)).toThrow(/unexpected code/);
    expect(() => parsePhpStringFile(`return "a";`)).toThrow(/<\?php/);
    expect(() => parsePhpStringFile(`<?php return getenv("X");`)).toThrow(/string literal/);
  });
});

describe("parsePhpListFile", () => {
  it("reads var_export output with integer keys in file order", () => {
    const text = `<?php\n\nreturn array (\n  0 => NULL,\n  'a2' => NULL,\n  'a10' => NULL,\n  'it\\'s' => NULL,\n);\n`;
    expect(parsePhpListFile(text)).toEqual(["0", "a2", "a10", "it's"]);
  });

  it("reads an empty list, short arrays and values other than NULL", () => {
    expect(parsePhpListFile(`<?php\n\nreturn array (\n);\n`)).toEqual([]);
    expect(parsePhpListFile(`<?php return ["A" => null, 12 => 'x', 'B' => true];`)).toEqual(["A", "12", "B"]);
  });

  it("refuses a list that is not a literal array", () => {
    expect(() => parsePhpListFile(`<?php return array_merge([], []);`)).toThrow();
    expect(() => parsePhpListFile(`<?php return array ('a' => NULL`)).toThrow();
  });
});

describe("parsePhpListFile: the array PHP builds", () => {
  const list = (body: string): string[] => parsePhpListFile(`<?php\n\nreturn [\n${body}];\n`);

  it("reads the values VarExporter writes without a key (the field report: offset 20)", () => {
    expect(list("    null,\n    null,\n    'a2' => null,\n")).toEqual(["0", "1", "a2"]);
    expect(parsePhpListFile("<?php\n\nreturn [];\n")).toEqual([]);
  });

  it("gives a value without a key the next integer after the largest so far", () => {
    expect(list("5 => null, null, 2 => null, null,")).toEqual(["5", "6", "2", "7"]);
    expect(list("'a' => null, null, '007' => null, null")).toEqual(["a", "0", "007", "1"]);
  });

  it("turns numeric strings into integer keys, as PHP does, and merges a key seen twice", () => {
    expect(list("'5' => null, null")).toEqual(["5", "6"]);
    expect(list("0 => null, '0' => 1, null, \"1\" => null")).toEqual(["0", "1"]);
    expect(list("'-0' => null, '0123' => null")).toEqual(["-0", "0123"]);
  });

  it("keeps 64-bit keys exact, and beyond them strings", () => {
    expect(list("9223372036854775807 => null, '99999999999999999999' => null")).toEqual([
      "9223372036854775807",
      "99999999999999999999",
    ]);
    expect(list("'9223372036854775807' => null")).toEqual(["9223372036854775807"]);
    expect(() => list("9223372036854775807 => null, null")).toThrow(
      /offset 45 has no key .* no next integer/,
    );
  });

  it("reads var_export's form too", () => {
    expect(
      parsePhpListFile("<?php\n\nreturn array (\n  0 => NULL,\n  1 => NULL,\n  'a' => NULL,\n);\n"),
    ).toEqual(["0", "1", "a"]);
    expect(parsePhpListFile("<?php return ARRAY('x' => TRUE, 'y' => 1.5e3, 'z' => -2, 'w' => 'v');")).toEqual(
      ["x", "y", "z", "w"],
    );
  });

  it("refuses keys PHP would convert lossily or that cannot be secret names, with the offset", () => {
    expect(() => list("-1 => null")).toThrow("array key -1 at offset 16 is negative, not a secret name");
    expect(() => list("010 => null")).toThrow(/offset 16 is a number PHP would convert/);
    for (const key of ["0x1", "0b1", "1_0", "1.5", "9223372036854775808", "1e3"]) {
      expect(() => list(`${key} => null`), key).toThrow(/is a number PHP would convert/);
    }
    expect(() => list("null => null")).toThrow("array key at offset 16 is null, not a secret name");
    expect(() => list("TRUE => null")).toThrow(/is true, not a secret name/);
  });

  it("refuses anything but literals", () => {
    expect(() => list("    nul,\n")).toThrow("expected null, true, false, a number or a string at offset 20");
    expect(() => list("'a' => 'x' . 'y',")).toThrow("expected , or ] at offset 27");
    expect(() => list("'a' => [],")).toThrow(/expected null, true, false, a number or a string at offset 23/);
    expect(() => list("'a' => FOO,")).toThrow(/offset 23/);
    expect(() => list("'a' => null,, ")).toThrow(/offset 28/);
    expect(() => parsePhpListFile("<?php return ['a' => null]; echo 1;")).toThrow(
      /unexpected code .* offset 28/,
    );
    expect(() => parsePhpListFile("<?php return ['a' => null]")).toThrow("expected ; at offset 26");
  });
});

describe("the parsers on untrusted input", () => {
  it("needs the open tag with whitespace, accepts PHP's case and a BOM (offsets count it)", () => {
    expect(() => parsePhpStringFile('<?phpreturn "x";')).toThrow(/does not start with <\?php/);
    expect(parsePhpStringFile('<?PHP RETURN "x";').toString()).toBe("x");
    expect(() => parsePhpStringFile("\uFEFF<?php return x;")).toThrow(
      "expected return of a string literal at offset 16",
    );
    expect(() => parsePhpStringFile('<?php returnx "a";')).toThrow("expected return at offset 6");
  });

  it("refuses interpolation, also of names starting with a byte >= 0x80", () => {
    expect(() =>
      parsePhpStringFile(Buffer.from([...Buffer.from('<?php return "$'), 0xe9, 0x22, 0x3b])),
    ).toThrow("variable interpolation at offset 14 cannot be read without PHP");
    expect(() => parsePhpStringFile('<?php return "${x}";')).toThrow(/interpolation/);
    expect(() => parsePhpStringFile('<?php return "{$x}";')).toThrow(/interpolation/);
    expect(parsePhpStringFile('<?php return "$ $5 {x}";').toString()).toBe("$ $5 {x}");
  });

  it("writes \\u{} as PHP does, surrogates included, and refuses code points PHP refuses", () => {
    expect([...parsePhpStringFile('<?php return "\\u{D800}\\u{1F510}\\u{0}";')]).toEqual([
      0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x94, 0x90, 0,
    ]);
    expect(() => parsePhpStringFile('<?php return "\\u{110000}";')).toThrow(PhpParseError);
    expect(() => parsePhpStringFile('<?php return "\\u{}";')).toThrow("bad \\u{} escape at offset 14");
    expect([...parsePhpStringFile('<?php return "\\400\\7";')]).toEqual([0, 7]);
  });

  it("reads long literals without recursion and refuses files over the cap", () => {
    const long = "a".repeat(4 * 1024 * 1024);
    expect(parsePhpStringFile(`<?php return "${long}";`).length).toBe(long.length);
    expect(parsePhpStringFile(`<?php return '${long}';`).length).toBe(long.length);
    expect(() => parsePhpStringFile(Buffer.alloc(MAX_PHP_FILE_BYTES + 1, 0x20))).toThrow(
      `${MAX_PHP_FILE_BYTES + 1} bytes, more than the ${MAX_PHP_FILE_BYTES} a vault file may have; not read`,
    );
    expect(() => parsePhpStringFile('<?php return "abc')).toThrow(
      "unterminated string starting at offset 13",
    );
    expect(() => parsePhpListFile("<?php return [/* ")).toThrow("unterminated /* comment at offset 14");
  });
});

describe("renderDecryptionKeyFile", () => {
  it("writes what Symfony writes and reads back", () => {
    const key = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 7) % 256));
    const text = renderDecryptionKeyFile("prod", key, new Date("2026-11-28T02:15:00Z"));
    expect(text).toMatch(
      /^<\?php \/\/ prod\.decrypt\.private on Sat, 28 Nov 2026 02:15:00 \+0000\n\n\/\/ SYMFONY_DECRYPTION_SECRET=/,
    );
    expect(text).toContain(`SYMFONY_DECRYPTION_SECRET=${key.toString("base64")}\nreturn "`);
    expect(parsePhpStringFile(text).equals(key)).toBe(true);
  });
});
