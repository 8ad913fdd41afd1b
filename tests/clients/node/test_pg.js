#!/usr/bin/env node
// node-postgres (pg) against a running `prov9 serve --demo`.
//
// Usage: (cd tests/clients/node && npm install)
//        PGHOST=127.0.0.1 PGPORT=5433 PGUSER=prov9 PGDATABASE=prov9 node test_pg.js
//
// pg reads PGHOST, PGPORT, PGUSER, PGDATABASE and PGPASSWORD itself. Runs every check, prints
// ok/FAIL for each, ends with 'N passed, N failed' and exits 1 if any check failed.
'use strict';

const pg = require('pg');

// sql/schema.sql: the columns of runs in order.
const RUNS_COLUMNS = ['run_id', 'job_id', 'parent_run_id', 'state', 'started_at', 'ended_at',
  'code_version', 'parameters', 'environment', 'error_message', 'updated_at', 'root_run_id', 'tags'];
const TIMESTAMPTZ = 1184;
const TEXT_OIDS = [25, 1043];

if (!process.env.PGPORT) {
  console.error('set PGHOST, PGPORT (and PGUSER, PGDATABASE) to the prov9 server');
  process.exit(2);
}

let passed = 0;
const failed = [];

class CheckFailed extends Error {}

function expect(cond, message) {
  if (!cond) throw new CheckFailed(message);
}

function expectEq(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new CheckFailed(`${what}: expected ${e}, got ${a}`);
}

async function check(title, fn) {
  process.stdout.write(`-- ${title} ... `);
  try {
    const detail = await fn();
    console.log('ok' + (detail ? ` (${detail})` : ''));
    passed++;
  } catch (e) {
    let msg = e instanceof CheckFailed ? e.message : `${e.constructor.name}: ${e.message}`;
    if (e.code) msg += ` [SQLSTATE ${e.code}]`;
    console.log(`FAIL\n   ${msg}`);
    failed.push(`${title}: ${msg.split('\n')[0]}`);
  }
}

async function withClient(fn) {
  const client = new pg.Client({ connectionTimeoutMillis: 10000, application_name: 'prov9-test-pg' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function expectCode(client, query, values, code) {
  try {
    await client.query(query, values);
  } catch (e) {
    expect(e instanceof pg.DatabaseError, `${query}: ${e.constructor.name} is not a DatabaseError: ${e.message}`);
    expectEq(e.code, code, `SQLSTATE of ${JSON.stringify(query)} (message: ${e.message})`);
    expect(typeof e.severity === 'string' && e.severity.length > 0, `error without severity: ${e.message}`);
    return e;
  }
  throw new CheckFailed(`${query} succeeded, expected SQLSTATE ${code}`);
}

async function main() {
  console.log(`pg ${require('pg/package.json').version} -> ${process.env.PGHOST}:${process.env.PGPORT}/${process.env.PGDATABASE}`);

  await check('connect; count(*) FROM runs equals the rows of SELECT run_id (simple and extended protocol)', () =>
    withClient(async (c) => {
      const simple = await c.query('SELECT count(*) AS n FROM runs'); // no values: simple Query
      const extended = await c.query('SELECT count(*) AS n FROM runs WHERE $1::boolean', [true]); // Parse/Bind/Execute
      const rows = await c.query('SELECT run_id FROM runs');
      const n = Number(simple.rows[0].n);
      expect(n > 0, 'runs is empty: start the server with --demo');
      expectEq(Number(extended.rows[0].n), n, 'count via extended protocol');
      expectEq(rows.rowCount, n, 'rowCount of SELECT run_id');
      expectEq(rows.rows.length, n, 'rows of SELECT run_id');
      return `${n} runs`;
    }));

  await check('fields of SELECT * FROM runs: names from schema.sql, timestamptz and text type oids', () =>
    withClient(async (c) => {
      const r = await c.query('SELECT * FROM runs LIMIT 1');
      expectEq(r.fields.map((f) => f.name), RUNS_COLUMNS, 'field names');
      for (const f of r.fields) {
        if (f.name.endsWith('_at')) expectEq(f.dataTypeID, TIMESTAMPTZ, `type oid of ${f.name}`);
        else expect(TEXT_OIDS.includes(f.dataTypeID), `type oid of ${f.name} is ${f.dataTypeID}`);
      }
      const row = r.rows[0];
      expect(row.started_at === null || row.started_at instanceof Date, `started_at is ${typeof row.started_at}`);
    }));

  await check('parameterised query with $1 (text) and $2 (timestamptz Date): rows match a client-side filter', () =>
    withClient(async (c) => {
      const all = (await c.query('SELECT run_id, state, started_at FROM runs WHERE started_at IS NOT NULL')).rows;
      expect(all.length > 0, 'no runs with started_at');
      expect(all.every((r) => r.started_at instanceof Date), 'started_at not parsed as Date');
      const times = all.map((r) => r.started_at.getTime()).sort((a, b) => a - b);
      const pivot = new Date(times[Math.floor(times.length / 2)]);
      const want = all.filter((r) => r.state === 'COMPLETE' && r.started_at >= pivot)
        .map((r) => r.run_id).sort();
      const got = await c.query(
        'SELECT run_id, state, started_at FROM runs WHERE state = $1 AND started_at >= $2 ORDER BY run_id',
        ['COMPLETE', pivot]);
      expectEq(got.rows.map((r) => r.run_id), want, 'run ids');
      for (const r of got.rows) {
        expectEq(r.state, 'COMPLETE', 'state');
        expect(r.started_at >= pivot, `started_at ${r.started_at.toISOString()} before ${pivot.toISOString()}`);
      }
      return `${got.rowCount} of ${all.length}`;
    }));

  await check('parameters of several types: text, integer, float, boolean, NULL, Date', () =>
    withClient(async (c) => {
      const d = new Date('2024-05-06T07:08:09.123Z');
      const r = await c.query(
        'SELECT $1::text AS t, $2::bigint + 1 AS i, $3::double precision * 2 AS f, NOT $4::boolean AS b, ' +
        '$5::text IS NULL AS isnull, $6::timestamptz AS ts', ["it's", 41, 1.25, false, null, d]);
      const row = r.rows[0];
      expectEq(row.t, "it's", 'text');
      expectEq(String(row.i), '42', 'bigint + 1 (pg returns int8 as string)');
      expectEq(row.f, 2.5, 'double * 2');
      expectEq(row.b, true, 'NOT false');
      expectEq(row.isnull, true, 'NULL parameter IS NULL');
      expect(row.ts instanceof Date, `timestamptz came back as ${typeof row.ts}: ${row.ts}`);
      expectEq(row.ts.toISOString(), d.toISOString(), 'timestamptz round trip');
    }));

  await check('type round trip: boolean, bigint > 2^53, double, NULL, arrays, timestamptz literal', () =>
    withClient(async (c) => {
      const r = await c.query(
        "SELECT true AS b, 9007199254740993::bigint AS big, 0.1::double precision AS d, NULL AS n, " +
        "ARRAY[1,2,3] AS arr, ARRAY['a','b'] AS tarr, CAST('2024-01-02 03:04:05+02' AS TIMESTAMPTZ) AS ts");
      const row = r.rows[0];
      expectEq(row.b, true, 'boolean');
      expectEq(row.big, '9007199254740993', 'bigint (string, exact)');
      expectEq(row.d, 0.1, 'double');
      expectEq(row.n, null, 'NULL');
      expectEq((row.arr || []).map(Number), [1, 2, 3], `ARRAY[1,2,3] (raw ${JSON.stringify(row.arr)})`);
      expect(Array.isArray(row.arr), `ARRAY[1,2,3] is not parsed as an array: ${JSON.stringify(row.arr)}`);
      expectEq(row.tarr, ['a', 'b'], 'text array');
      const tsField = r.fields.find((f) => f.name === 'ts');
      expectEq(tsField.dataTypeID, TIMESTAMPTZ, 'type oid of CAST(... AS TIMESTAMPTZ)');
      expectEq(row.ts instanceof Date ? row.ts.toISOString() : row.ts, '2024-01-02T01:04:05.000Z', 'timestamptz literal');
    }));

  await check('rowMode array and a named prepared statement reused with other values', () =>
    withClient(async (c) => {
      const text = 'SELECT run_id FROM runs WHERE state = $1 ORDER BY run_id';
      const plain = {};
      for (const s of ['COMPLETE', 'FAIL']) plain[s] = (await c.query(text, [s])).rows.map((r) => r.run_id);
      for (let i = 0; i < 2; i++) {
        for (const s of ['COMPLETE', 'FAIL']) {
          const r = await c.query({ name: 'runs-by-state', text, values: [s], rowMode: 'array' });
          expectEq(r.rows.map((row) => row[0]), plain[s], `named statement, state=${s}, round ${i + 1}`);
        }
      }
      expect(plain.COMPLETE.length > 0, 'no COMPLETE runs');
    }));

  await check('errors carry their SQLSTATE in err.code and the client stays usable', () =>
    withClient(async (c) => {
      await expectCode(c, 'SELEC 1', undefined, '42601');
      expectEq(Number((await c.query('SELECT 1 AS one')).rows[0].one), 1, 'SELECT 1 after syntax error');
      await expectCode(c, 'SELECT no_such_column FROM runs', undefined, '42703');
      await expectCode(c, 'SELECT * FROM no_such_table WHERE a = $1', ['x'], '42P01'); // extended protocol
      const n = Number((await c.query('SELECT count(*) AS n FROM runs WHERE state = $1', ['COMPLETE'])).rows[0].n);
      expect(n > 0, 'count after errors');
      return `${n} COMPLETE after 3 errors`;
    }));

  await check('writes fail with SQLSTATE 42501 (simple and extended protocol)', () =>
    withClient(async (c) => {
      const before = Number((await c.query('SELECT count(*) AS n FROM runs')).rows[0].n);
      await expectCode(c, 'CREATE TABLE x(a int)', undefined, '42501');
      await expectCode(c, "INSERT INTO runs (run_id, job_id, state) VALUES ('run:x', 'job:x', 'START')", undefined, '42501');
      await expectCode(c, 'INSERT INTO runs (run_id, job_id, state) VALUES ($1, $2, $3)', ['run:y', 'job:y', 'START'], '42501');
      await expectCode(c, 'DELETE FROM runs WHERE run_id = $1', ['run:x'], '42501');
      const after = Number((await c.query('SELECT count(*) AS n FROM runs')).rows[0].n);
      expectEq(after, before, 'runs count after refused writes');
    }));

  await check('BEGIN / COMMIT / ROLLBACK; error in a transaction gives 25P02 until ROLLBACK', () =>
    withClient(async (c) => {
      await c.query('BEGIN');
      const n = Number((await c.query('SELECT count(*) AS n FROM runs')).rows[0].n);
      await c.query('COMMIT');
      await c.query('BEGIN');
      await expectCode(c, 'SELECT no_such_column FROM runs', undefined, '42703');
      await expectCode(c, 'SELECT 1', undefined, '25P02');
      await c.query('ROLLBACK');
      expectEq(Number((await c.query('SELECT count(*) AS n FROM runs')).rows[0].n), n, 'count after ROLLBACK');
    }));

  await check('pg.Pool: 8 concurrent parameterised queries over 3 connections', async () => {
    const pool = new pg.Pool({ max: 3, connectionTimeoutMillis: 10000 });
    try {
      const ids = (await pool.query('SELECT run_id FROM runs ORDER BY run_id')).rows.map((r) => r.run_id);
      const picks = ids.slice(0, 8);
      const got = await Promise.all(picks.map((id) => pool.query('SELECT run_id FROM runs WHERE run_id = $1', [id])));
      expectEq(got.map((r) => r.rows[0].run_id), picks, 'looked-up run ids');
      return `${picks.length} lookups`;
    } finally {
      await pool.end();
    }
  });

  console.log();
  if (failed.length) {
    console.log('test_pg: failed checks:');
    for (const f of failed) console.log(`  - ${f}`);
  }
  console.log(`test_pg: ${passed} passed, ${failed.length} failed`);
  process.exit(failed.length ? 1 : 0);
}

main().catch((e) => {
  console.error('test_pg: aborted:', e);
  process.exit(1);
});
