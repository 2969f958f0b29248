// Every module a TypeScript source refers to, found by the compiler's own parser rather than by
// regular expressions: a regex missed double quotes, `export … from` and dynamic imports in a trial.
import ts from 'typescript';

export interface ModuleImport {
  /** The specifier as written, or undefined for a dynamic import whose argument is not a string literal. */
  specifier: string | undefined;
  /** Erased at compile time: `import type`, `export type … from`, `import('x').T` in a type position. */
  typeOnly: boolean;
  syntax: 'import' | 'export-from' | 'dynamic-import' | 'require' | 'import-equals' | 'import-type';
  /** 1-based line of the statement, for messages. */
  line: number;
}

/** The string a literal spells, for `'x'`, `"x"` and `` `x` `` without substitutions. */
function literal(node: ts.Node | undefined): string | undefined {
  return node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) ? node.text : undefined;
}

/**
 * Under verbatimModuleSyntax only a declaration marked `type` as a whole is erased: `import { type A } from 'x'`
 * still loads 'x' at run time, so it counts as a value import here.
 */
export function moduleImports(fileName: string, text: string): ModuleImport[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, fileName.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const found: ModuleImport[] = [];
  const add = (node: ts.Node, specifier: string | undefined, typeOnly: boolean, syntax: ModuleImport['syntax']): void => {
    found.push({ specifier, typeOnly, syntax, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      add(node, literal(node.moduleSpecifier), node.importClause?.isTypeOnly ?? false, 'import');
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      add(node, literal(node.moduleSpecifier), node.isTypeOnly, 'export-from');
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, literal(node.moduleReference.expression), node.isTypeOnly, 'import-equals');
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, literal(node.argument.literal), true, 'import-type');
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, literal(node.arguments[0]), false, 'dynamic-import');
    } else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'require' && node.arguments.length === 1) {
      // createRequire() hands ESM code a require(); what it loads is an import all the same.
      add(node, literal(node.arguments[0]), false, 'require');
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}
