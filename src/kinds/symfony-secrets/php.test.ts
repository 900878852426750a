import { describe, expect, it } from "vitest";
import { parsePhpListFile, parsePhpStringFile, phpStringLiteral, renderDecryptionKeyFile } from "./php.js";

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
