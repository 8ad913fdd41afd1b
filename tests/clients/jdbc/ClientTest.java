// pgjdbc (the PostgreSQL JDBC driver) against a running `prov9 serve --demo`.
//
// Usage (Java 11+ source-file mode, driver from Debian's libpostgresql-jdbc-java):
//   PGHOST=127.0.0.1 PGPORT=5433 PGUSER=prov9 PGDATABASE=prov9 \
//     java -cp /usr/share/java/postgresql.jar ClientTest.java
//
// Runs every check, prints ok/FAIL for each, ends with 'N passed, N failed' and exits 1 if any
// check failed. JDBC URL: jdbc:postgresql://PGHOST:PGPORT/PGDATABASE.

import java.sql.*;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.*;

public class ClientTest {
    // sql/schema.sql: the tables of schema public, and the columns of runs in order.
    static final List<String> TABLES = List.of("events", "jobs", "runs", "datasets", "dataset_versions",
            "transformations", "model_versions", "metrics", "deployments", "lineage_edges", "column_lineage",
            "quality_checks");
    static final List<String> RUNS_COLUMNS = List.of("run_id", "job_id", "parent_run_id", "state", "started_at",
            "ended_at", "code_version", "parameters", "environment", "error_message", "updated_at", "root_run_id",
            "tags");
    static final Set<String> RUNS_NOT_NULL = Set.of("run_id", "job_id", "state");
    static final Set<String> RUNS_TIMESTAMPS = Set.of("started_at", "ended_at", "updated_at");

    static String url;
    static Properties props = new Properties();
    static int passed = 0;
    static List<String> failed = new ArrayList<>();

    interface Check { String run() throws Exception; }

    static void check(String title, Check body) {
        System.out.print("-- " + title + " ... ");
        System.out.flush();
        try {
            String detail = body.run();
            System.out.println("ok" + (detail == null ? "" : " (" + detail + ")"));
            passed++;
        } catch (AssertionError e) {
            System.out.println("FAIL\n   " + e.getMessage());
            failed.add(title + ": " + e.getMessage());
        } catch (SQLException e) {
            String msg = e.getClass().getName() + ": " + e.getMessage() + " [SQLSTATE " + e.getSQLState() + "]";
            System.out.println("FAIL\n   " + msg);
            failed.add(title + ": " + msg);
        } catch (Exception e) {
            String msg = e.getClass().getName() + ": " + e.getMessage();
            System.out.println("FAIL\n   " + msg);
            failed.add(title + ": " + msg);
        }
    }

    static void expect(boolean cond, String message) {
        if (!cond) throw new AssertionError(message);
    }

    static void expectEq(Object actual, Object expected, String what) {
        if (!Objects.equals(actual, expected))
            throw new AssertionError(what + ": expected " + expected + ", got " + actual);
    }

    static Connection connect() throws SQLException { return DriverManager.getConnection(url, props); }

    static Connection connect(String extra) throws SQLException {
        return DriverManager.getConnection(url + (url.contains("?") ? "&" : "?") + extra, props);
    }

    static long scalarLong(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            expect(rs.next(), "no row for " + sql);
            return rs.getLong(1);
        }
    }

    static List<String> strings(Connection c, String sql) throws SQLException {
        List<String> out = new ArrayList<>();
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            while (rs.next()) out.add(rs.getString(1));
        }
        return out;
    }

    static String sqlState(Connection c, String sql) {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        } catch (SQLException e) {
            return e.getSQLState();
        }
        throw new AssertionError(sql + " succeeded, expected an error");
    }

    public static void main(String[] args) throws Exception {
        String host = System.getenv().getOrDefault("PGHOST", "127.0.0.1");
        String port = System.getenv("PGPORT");
        if (port == null) {
            System.err.println("set PGHOST, PGPORT (and PGUSER, PGDATABASE) to the prov9 server");
            System.exit(2);
        }
        String db = System.getenv().getOrDefault("PGDATABASE", "prov9");
        url = "jdbc:postgresql://" + host + ":" + port + "/" + db;
        props.setProperty("user", System.getenv().getOrDefault("PGUSER", "prov9"));
        if (System.getenv("PGPASSWORD") != null) props.setProperty("password", System.getenv("PGPASSWORD"));
        props.setProperty("connectTimeout", "10");
        props.setProperty("socketTimeout", "60");
        System.out.println("pgjdbc " + org.postgresql.Driver.class.getPackage().getImplementationVersion() + " -> " + url);

        check("connect; DatabaseMetaData names PostgreSQL with a version", () -> {
            try (Connection c = connect()) {
                DatabaseMetaData md = c.getMetaData();
                expectEq(md.getDatabaseProductName(), "PostgreSQL", "getDatabaseProductName");
                expect(md.getDatabaseMajorVersion() >= 9, "getDatabaseMajorVersion " + md.getDatabaseMajorVersion());
                expectEq(c.getSchema(), "public", "Connection.getSchema() (current_schema())");
                return md.getDatabaseProductVersion() + ", user " + md.getUserName();
            }
        });

        check("count(*) FROM runs: Statement, PreparedStatement, simple protocol and row count agree", () -> {
            long viaStatement, viaSimple, rows = 0, viaPrepared;
            try (Connection c = connect()) {
                viaStatement = scalarLong(c, "SELECT count(*) FROM runs");
                try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM runs");
                     ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    viaPrepared = rs.getLong(1);
                }
                try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT run_id FROM runs")) {
                    while (rs.next()) rows++;
                }
            }
            try (Connection c = connect("preferQueryMode=simple")) {
                viaSimple = scalarLong(c, "SELECT count(*) FROM runs");
            }
            expect(viaStatement > 0, "runs is empty: start the server with --demo");
            expectEq(viaPrepared, viaStatement, "PreparedStatement count");
            expectEq(viaSimple, viaStatement, "simple-protocol count");
            expectEq(rows, viaStatement, "rows of SELECT run_id");
            return viaStatement + " runs";
        });

        check("getTables(null, \"public\", \"%\", {TABLE, VIEW}): the 12 tables and the views lineage_nodes, prov9_commits", () -> {
            Map<String, String> found = new TreeMap<>();
            try (Connection c = connect();
                 ResultSet rs = c.getMetaData().getTables(null, "public", "%", new String[]{"TABLE", "VIEW"})) {
                while (rs.next()) {
                    expectEq(rs.getString("TABLE_SCHEM"), "public", "TABLE_SCHEM of " + rs.getString("TABLE_NAME"));
                    found.put(rs.getString("TABLE_NAME"), rs.getString("TABLE_TYPE"));
                }
            }
            for (String t : TABLES) expectEq(found.get(t), "TABLE", "TABLE_TYPE of " + t + " (all: " + found + ")");
            expectEq(found.get("lineage_nodes"), "VIEW", "TABLE_TYPE of lineage_nodes (all: " + found + ")");
            expectEq(found.get("prov9_commits"), "VIEW", "TABLE_TYPE of prov9_commits (all: " + found + ")");
            expectEq(found.size(), TABLES.size() + 2, "number of tables and views " + found.keySet());
            return found.size() + " relations";
        });

        check("getColumns(null, \"public\", \"runs\", \"%\"): names, order, types, nullability", () -> {
            List<String> names = new ArrayList<>();
            try (Connection c = connect(); ResultSet rs = c.getMetaData().getColumns(null, "public", "runs", "%")) {
                while (rs.next()) {
                    String name = rs.getString("COLUMN_NAME");
                    names.add(name);
                    String typeName = rs.getString("TYPE_NAME");
                    int dataType = rs.getInt("DATA_TYPE");
                    int pos = rs.getInt("ORDINAL_POSITION");
                    expectEq(pos, names.size(), "ORDINAL_POSITION of " + name);
                    if (RUNS_TIMESTAMPS.contains(name)) {
                        expectEq(typeName, "timestamptz", "TYPE_NAME of " + name);
                        expect(dataType == Types.TIMESTAMP || dataType == Types.TIMESTAMP_WITH_TIMEZONE,
                                "DATA_TYPE of " + name + " is " + dataType);
                    } else {
                        expect(typeName.equals("text") || typeName.equals("varchar"), "TYPE_NAME of " + name + " is " + typeName);
                        expect(dataType == Types.VARCHAR || dataType == Types.LONGVARCHAR, "DATA_TYPE of " + name + " is " + dataType);
                    }
                    int nullable = rs.getInt("NULLABLE");
                    expectEq(nullable, RUNS_NOT_NULL.contains(name) ? DatabaseMetaData.columnNoNulls
                            : DatabaseMetaData.columnNullable, "NULLABLE of " + name);
                }
            }
            expectEq(names, RUNS_COLUMNS, "runs columns");
            return null;
        });

        check("getSchemas(): public and pg_catalog", () -> {
            Set<String> schemas = new TreeSet<>();
            try (Connection c = connect(); ResultSet rs = c.getMetaData().getSchemas()) {
                while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM"));
            }
            for (String s : List.of("public", "pg_catalog"))
                expect(schemas.contains(s), "getSchemas() lacks " + s + ": " + schemas);
            return String.join(",", schemas);
        });

        check("PreparedStatement with string, int and timestamp parameters", () -> {
            try (Connection c = connect()) {
                // the truth, from plain rows filtered here
                List<Object[]> all = new ArrayList<>();
                try (Statement st = c.createStatement();
                     ResultSet rs = st.executeQuery("SELECT run_id, state, started_at FROM runs WHERE started_at IS NOT NULL")) {
                    while (rs.next()) all.add(new Object[]{rs.getString(1), rs.getString(2), rs.getObject(3, OffsetDateTime.class)});
                }
                expect(!all.isEmpty(), "no runs with started_at");
                List<OffsetDateTime> starts = new ArrayList<>();
                for (Object[] r : all) starts.add((OffsetDateTime) r[2]);
                Collections.sort(starts);
                OffsetDateTime pivot = starts.get(starts.size() / 2);
                long want = all.stream().filter(r -> r[1].equals("COMPLETE") && ((String) r[0]).length() > 4
                        && !((OffsetDateTime) r[2]).isBefore(pivot)).count();
                String sql = "SELECT count(*) FROM runs WHERE state = ? AND length(run_id) > ? AND started_at >= ?";
                try (PreparedStatement ps = c.prepareStatement(sql)) {
                    for (int i = 0; i < 8; i++) { // pgjdbc switches to a named server statement after prepareThreshold=5
                        ps.setString(1, "COMPLETE");
                        ps.setInt(2, 4);
                        ps.setTimestamp(3, Timestamp.from(pivot.toInstant()));
                        try (ResultSet rs = ps.executeQuery()) {
                            rs.next();
                            expectEq(rs.getLong(1), want, "count with setTimestamp, execution " + (i + 1));
                        }
                    }
                    ps.setString(1, "COMPLETE");
                    ps.setInt(2, 4);
                    ps.setObject(3, pivot.withOffsetSameInstant(ZoneOffset.ofHours(5)));
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        expectEq(rs.getLong(1), want, "count with setObject(OffsetDateTime +05:00)");
                    }
                }
                return want + " of " + all.size();
            }
        });

        check("setFetchSize(100) in a transaction streams 10,000 rows in order", () -> {
            try (Connection c = connect()) {
                c.setAutoCommit(false);
                long n = 0, sum = 0;
                boolean inOrder = true;
                try (PreparedStatement ps = c.prepareStatement("SELECT * FROM generate_series(1, 10000)")) {
                    ps.setFetchSize(100);
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            n++;
                            long v = rs.getLong(1);
                            if (v != n) inOrder = false;
                            sum += v;
                        }
                    }
                }
                c.commit();
                expectEq(n, 10000L, "rows");
                expect(inOrder, "rows not in order 1..10000");
                expectEq(sum, 50005000L, "sum");
                return null;
            }
        });

        check("setFetchSize(5) over runs matches the unfetched result", () -> {
            try (Connection c = connect()) {
                List<String> want = strings(c, "SELECT run_id FROM runs ORDER BY run_id");
                c.setAutoCommit(false);
                List<String> got = new ArrayList<>();
                try (Statement st = c.createStatement()) {
                    st.setFetchSize(5);
                    try (ResultSet rs = st.executeQuery("SELECT run_id FROM runs ORDER BY run_id")) {
                        while (rs.next()) got.add(rs.getString(1));
                    }
                }
                c.commit();
                expectEq(got, want, "run ids");
                return null;
            }
        });

        check("timestamptz: getObject(..., OffsetDateTime.class) on runs.started_at and a literal", () -> {
            try (Connection c = connect(); Statement st = c.createStatement()) {
                try (ResultSet rs = st.executeQuery(
                        "SELECT started_at FROM runs WHERE started_at IS NOT NULL ORDER BY started_at LIMIT 1")) {
                    rs.next();
                    expectEq(rs.getMetaData().getColumnTypeName(1), "timestamptz", "column type of started_at");
                    OffsetDateTime odt = rs.getObject(1, OffsetDateTime.class);
                    Timestamp ts = rs.getTimestamp(1);
                    expectEq(odt.toInstant(), ts.toInstant(), "OffsetDateTime vs Timestamp instant");
                    expectEq(odt.getOffset(), ZoneOffset.UTC, "offset of started_at");
                }
                try (ResultSet rs = st.executeQuery("SELECT CAST('2024-01-02 03:04:05+02' AS TIMESTAMPTZ)")) {
                    rs.next();
                    expectEq(rs.getMetaData().getColumnTypeName(1), "timestamptz", "column type of CAST(... AS TIMESTAMPTZ)");
                    expectEq(rs.getObject(1, OffsetDateTime.class),
                            OffsetDateTime.of(2024, 1, 2, 1, 4, 5, 0, ZoneOffset.UTC), "CAST(... AS TIMESTAMPTZ)");
                }
                return null;
            }
        });

        check("types: boolean, bigint beyond 2^53, double, NULL, int array, text", () -> {
            try (Connection c = connect(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT true, 9007199254740993::bigint, 0.1::double precision, "
                         + "CAST(NULL AS BIGINT), ARRAY[1,2,3], 'ünïcødé ✓'")) {
                rs.next();
                expectEq(rs.getBoolean(1), true, "boolean");
                expectEq(rs.getObject(1), Boolean.TRUE, "boolean getObject");
                expectEq(rs.getLong(2), 9007199254740993L, "bigint");
                expectEq(rs.getDouble(3), 0.1, "double");
                rs.getLong(4);
                expect(rs.wasNull(), "NULL bigint: wasNull() false");
                expectEq(rs.getObject(4), null, "NULL getObject");
                Array arr = rs.getArray(5);
                Object[] els = (Object[]) arr.getArray();
                expectEq(Arrays.stream(els).map(x -> ((Number) x).longValue()).toList(), List.of(1L, 2L, 3L), "ARRAY[1,2,3]");
                expectEq(rs.getString(6), "ünïcødé ✓", "UTF-8 text");
                return null;
            }
        });

        check("errors carry SQLSTATE (42601, 42703, 42501) and the connection stays usable", () -> {
            try (Connection c = connect()) {
                expectEq(sqlState(c, "SELEC 1"), "42601", "syntax error");
                expectEq(scalarLong(c, "SELECT 1"), 1L, "after syntax error");
                expectEq(sqlState(c, "SELECT no_such_column FROM runs"), "42703", "undefined column");
                expectEq(sqlState(c, "CREATE TABLE x(a int)"), "42501", "CREATE TABLE");
                expectEq(sqlState(c, "INSERT INTO runs (run_id, job_id, state) VALUES ('run:x', 'job:x', 'START')"),
                        "42501", "INSERT");
                try (PreparedStatement ps = c.prepareStatement("DELETE FROM runs WHERE run_id = ?")) {
                    ps.setString(1, "run:x");
                    ps.executeUpdate();
                    throw new AssertionError("DELETE succeeded");
                } catch (SQLException e) {
                    expectEq(e.getSQLState(), "42501", "prepared DELETE");
                }
                expect(scalarLong(c, "SELECT count(*) FROM runs") > 0, "count after errors");
                return null;
            }
        });

        check("transactions: setAutoCommit(false), commit, rollback, error then rollback", () -> {
            try (Connection c = connect()) {
                c.setAutoCommit(false);
                long n = scalarLong(c, "SELECT count(*) FROM runs");
                c.commit();
                expectEq(scalarLong(c, "SELECT count(*) FROM runs"), n, "count in second transaction");
                c.rollback();
                expectEq(sqlState(c, "SELECT no_such_column FROM runs"), "42703", "error in transaction");
                expectEq(sqlState(c, "SELECT 1"), "25P02", "statement in failed transaction");
                c.rollback();
                expectEq(scalarLong(c, "SELECT count(*) FROM runs"), n, "count after rollback");
                c.commit();
                c.setAutoCommit(true);
                c.setReadOnly(true); // pgjdbc: SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY
                expectEq(scalarLong(c, "SELECT count(*) FROM runs"), n, "count after setReadOnly(true)");
                return null;
            }
        });

        check("Savepoint: setSavepoint / rollback(savepoint) / releaseSavepoint", () -> {
            try (Connection c = connect()) {
                c.setAutoCommit(false);
                long n = scalarLong(c, "SELECT count(*) FROM runs");
                Savepoint sp = c.setSavepoint("sp1");
                expectEq(sqlState(c, "SELECT no_such_column FROM runs"), "42703", "error after savepoint");
                c.rollback(sp);
                expectEq(scalarLong(c, "SELECT count(*) FROM runs"), n, "count after rollback to savepoint");
                c.releaseSavepoint(c.setSavepoint("sp2"));
                c.commit();
                return null;
            }
        });

        System.out.println();
        if (!failed.isEmpty()) {
            System.out.println("ClientTest: failed checks:");
            for (String f : failed) System.out.println("  - " + f.lines().findFirst().orElse(""));
        }
        System.out.println("ClientTest: " + passed + " passed, " + failed.size() + " failed");
        System.exit(failed.isEmpty() ? 0 : 1);
    }
}
