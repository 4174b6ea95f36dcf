import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeSqlUncached, createSqlAnalyzer, loadSqlParser } from '../../../../src/protocols/pg/sql-normalizer.js';

const shape = (sql: string) => analyzeSqlUncached(sql).shape;
const literals = (sql: string) => analyzeSqlUncached(sql).literals;

beforeAll(async () => {
  await loadSqlParser();
});

describe('SQL normalisation (the mock matches statements by shape and literals)', () => {
  it('ignores the case of keywords and unquoted identifiers, but not of quoted ones', () => {
    expect(shape('SELECT Id, Total FROM Orders WHERE Id = $1')).toBe('select id , total from orders where id = $1');
    expect(shape('select id, total from orders where id = $1')).toBe(shape('SeLeCt ID, TOTAL fRoM ORDERS wHeRe iD = $1'));
    expect(shape('SELECT "Id" FROM t')).toBe('select "Id" from t');
    expect(shape('SELECT "Id" FROM t')).not.toBe(shape('SELECT "id" FROM t'));
  });

  it('ignores whitespace: spaces, tabs and line breaks between tokens', () => {
    const oneLine = 'SELECT a, b FROM t WHERE a = $1 AND b > $2';
    expect(shape('  SELECT\ta ,b\r\n  FROM t\n\n WHERE a=$1   AND b>$2  ')).toBe(shape(oneLine));
  });

  it('ignores line comments, block comments and nested block comments', () => {
    const plain = shape('SELECT a FROM t WHERE a = $1');
    expect(shape('SELECT a -- the column\nFROM t /* the table */ WHERE a = $1 -- trailing')).toBe(plain);
    expect(shape('/* outer /* inner */ still a comment */ SELECT a FROM t WHERE a = $1')).toBe(plain);
    expect(shape('/* traceparent=00-abc-01 */ SELECT a FROM t WHERE a = $1')).toBe(plain);
  });

  it('keeps comment-like text inside a string as the literal it is', () => {
    expect(shape("SELECT '-- not a comment', '/* nor this */'")).toBe('select ? , ?');
    expect(literals("SELECT '-- not a comment', '/* nor this */'")).toEqual(['-- not a comment', '/* nor this */']);
  });

  it('replaces every literal by ? and lists the values in order', () => {
    const a = analyzeSqlUncached("SELECT * FROM orders WHERE id = 42 AND status = 'paid' AND total > 9.5");
    const b = analyzeSqlUncached("SELECT * FROM orders WHERE id = 7 AND status = 'open' AND total > 100.25");
    expect(a.shape).toBe('select * from orders where id = ? and status = ? and total > ?');
    expect(b.shape).toBe(a.shape);
    expect(a.literals).toEqual(['42', 'paid', '9.5']);
    expect(b.literals).toEqual(['7', 'open', '100.25']);
  });

  it('replaces numeric literals of every form: integer, decimal, exponent, hex and underscores', () => {
    expect(analyzeSqlUncached('SELECT 1, 2.5, .5, 1e3, 2.5E-3, 0x1F, 1_000')).toMatchObject({
      shape: 'select ? , ? , ? , ? , ? , ? , ?',
      literals: ['1', '2.5', '.5', '1e3', '2.5E-3', '0x1F', '1_000'],
    });
    // The sign is an operator, as in PostgreSQL's grammar.
    expect(shape('SELECT -7')).toBe('select - ?');
  });

  it('replaces prefixed string literals: escape, Unicode, bit and hex strings', () => {
    expect(shape("SELECT E'a\\nb', U&'d\\0061t', B'101', X'1F', N'x'")).toBe('select ? , ? , ? , ? , n ?');
    expect(literals("SELECT E'a\\nb', U&'d\\0061t', B'101', x'1f'")).toEqual(['a\nb', 'dat', "B'101'", "X'1f'"]);
  });

  it('replaces dollar-quoted strings, tagged or not, by their content', () => {
    expect(analyzeSqlUncached("SELECT $$it's$$, $fn$ SELECT 1; $fn$")).toMatchObject({ shape: 'select ? , ?', literals: ["it's", ' SELECT 1; '] });
  });

  it('reads one value the same however it is spelled', () => {
    const spellings = ["SELECT 'it''s'", "SELECT E'it\\'s'", "SELECT E'it\\x27s'", "SELECT $$it's$$", "SELECT $q$it's$q$", "SELECT U&'it\\0027s'", "SELECT 'it'\n'''s'"];
    for (const sql of spellings) expect(analyzeSqlUncached(sql), sql).toMatchObject({ shape: 'select ?', literals: ["it's"] });
  });

  it('keeps an IN list element by element: a list of another length is another shape', () => {
    expect(shape('SELECT * FROM t WHERE id IN (1, 2, 3)')).toBe('select * from t where id in ( ? , ? , ? )');
    expect(shape('SELECT * FROM t WHERE id IN (4, 5, 6)')).toBe(shape('SELECT * FROM t WHERE id IN (1,2,3)'));
    expect(shape('SELECT * FROM t WHERE id IN (1, 2)')).not.toBe(shape('SELECT * FROM t WHERE id IN (1, 2, 3)'));
  });

  it('keeps bind parameters and counts the highest one', () => {
    expect(analyzeSqlUncached('UPDATE t SET a = $2 WHERE id = $1')).toMatchObject({ shape: 'update t set a = $2 where id = $1', paramCount: 2, literals: [] });
  });

  it('names the command of each statement and drops empty statements and a trailing semicolon', () => {
    expect(analyzeSqlUncached('BEGIN; ; update t set a = 1;\n COMMIT;')).toMatchObject({ shape: 'begin ; update t set a = ? ; commit', commands: ['begin', 'update', 'commit'] });
    expect(analyzeSqlUncached(' -- nothing\n ; /* here */ ')).toMatchObject({ isEmpty: true, shape: '' });
    expect(analyzeSqlUncached('   ')).toMatchObject({ isEmpty: true, commands: [''] });
  });

  it('falls back to whitespace-collapsed text when the scanner refuses the SQL', () => {
    expect(analyzeSqlUncached("SELECT   'unterminated\n  FROM t")).toEqual({
      shape: "SELECT 'unterminated FROM t",
      literals: [],
      commands: ['select'],
      paramCount: 0,
      isEmpty: false,
    });
  });

  it('caches by SQL text: the same text gives the same analysis object', () => {
    const analyzer = createSqlAnalyzer(4);
    const first = analyzer.analyze('SELECT 1');
    expect(analyzer.analyze('SELECT 1')).toBe(first);
    expect(analyzer.analyze('select  1')).toEqual(first);
  });
});
