/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/cdk'],
  testMatch: ['**/*.test.ts'],
  // tsconfig sets isolatedModules, so ts-jest only transpiles; `npm run typecheck` does the type checking.
  transform: { '^.+\\.ts$': 'ts-jest' },
};
