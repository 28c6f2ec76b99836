// ESLint (flat config) for the task pane's ES modules, the dev harness scripts and the JS unit tests.
import js from "@eslint/js";
import globals from "globals";

const rules = {
  "no-unused-vars": ["error", { caughtErrors: "none" }],
  "no-var": "error",
  "prefer-const": "error",
  eqeqeq: ["error", "always"],
  "no-implicit-globals": "error",
  "no-shadow": "error",
  "no-console": ["error", { allow: ["warn", "error"] }],
  "max-lines": ["error", { max: 400, skipBlankLines: true, skipComments: true }]
};

export default [
  { ignores: ["node_modules/**", ".venv/**", "addin_api/static/taskpane/vendor/**", "test-artifacts/**"] },
  js.configs.recommended,
  {
    files: ["addin_api/static/taskpane/js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.browser, Office: "readonly" }
    },
    rules
  },
  {
    // Classic scripts (no modules): the manifest's function file and the dev harness with its Office.js stand-in.
    files: ["addin_api/static/taskpane/commands.js", "addin_api/static/dev/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "script",
      globals: { ...globals.browser, Office: "writable" }
    },
    rules: { ...rules, "no-var": "off", "prefer-const": "off", "max-lines": ["error", { max: 500, skipBlankLines: true, skipComments: true }] }
  },
  {
    files: ["tests/js/**/*.js", "eslint.config.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.node } },
    rules
  }
];
