import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "bench/out/", "reports/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-imports": [
        "error",
        {
          paths: [
            { name: "node:child_process", message: "Spawn processes only through src/exec." },
            { name: "child_process", message: "Spawn processes only through src/exec." },
            { name: "execa", message: "Spawn processes only through src/exec." },
          ],
        },
      ],
    },
  },
  {
    files: ["src/exec/**", "scripts/**", "test/**", "bench/**"],
    rules: { "no-restricted-imports": "off" },
  },
  {
    // The CommonJS entry point (see src/cli/threadpool.cts): `import x = require()` is the only
    // import TypeScript allows there under verbatimModuleSyntax.
    files: ["src/cli/*.cts"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
