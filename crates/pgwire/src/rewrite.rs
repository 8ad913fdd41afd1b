//! SQL rewrites for the clients' catalog queries and parameters, applied before
//! datafusion-postgres parses a statement.
//!
//! - Parameter types declared by the client are honoured. In `Parse`, a client may say what type
//!   each `$n` has (psycopg does for int, float, bool and dates). Postgres types the placeholder
//!   so; datafusion-postgres ignores the declaration, so `SELECT $1` with an int came back as
//!   text. The declared types become casts (`$1` → `$1::BIGINT`), which DataFusion and
//!   datafusion-postgres read a placeholder's type from.
//! - Correlated scalar subqueries over catalog tables that DataFusion cannot run (SQLAlchemy's
//!   column reflection has several) get their one column wrapped in `max()`, and conditions on
//!   the outer row moved out of them. Postgres would fail such a subquery at run time if it
//!   returned two rows; the catalog queries never do. Queries over data are left alone.
//! - `LIKE 'pattern' ESCAPE 'c'` with another escape character than backslash (SQLAlchemy's schema
//!   list uses `/`) is rewritten to the backslash form DataFusion knows.
//!
//! Statements are re-serialised only when a rewrite changed them. Text in, text out: the
//! handlers (`crate::handlers`) apply [`rewrite`] before datafusion-postgres parses a statement.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType as SqlType, ExactNumberInfo, Expr, GroupByExpr, Query,
    Select, SelectItem, SetExpr, Statement, TableFactor, TimezoneInfo, Value, visit_expressions,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser as SqlParser;
use datafusion_postgres::pgwire::api::Type;

/// Aggregate functions: a scalar subquery projecting one of these already returns one row.
const AGGREGATES: &[&str] = &[
    "count",
    "max",
    "min",
    "sum",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "first_value",
    "last_value",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
];

/// The SQL type a declared parameter type becomes; `None` leaves the placeholder as it is.
fn sql_type(declared: &Type) -> Option<SqlType> {
    Some(match *declared {
        Type::BOOL => SqlType::Boolean,
        Type::INT2 => SqlType::SmallInt(None),
        Type::INT4 => SqlType::Int(None),
        Type::INT8 => SqlType::BigInt(None),
        Type::FLOAT4 => SqlType::Real,
        Type::FLOAT8 => SqlType::DoublePrecision,
        Type::NUMERIC => SqlType::Numeric(ExactNumberInfo::None),
        Type::DATE => SqlType::Date,
        Type::TIMESTAMP => SqlType::Timestamp(None, TimezoneInfo::None),
        Type::TIMESTAMPTZ => SqlType::Timestamp(None, TimezoneInfo::WithTimeZone),
        _ => return None,
    })
}

/// `sql` rewritten for DataFusion (see the module docs), or `None` when nothing changes.
pub fn rewrite(sql: &str, types: &[Option<Type>]) -> Option<String> {
    // Cheap tests first: most statements need no rewrite and are not parsed twice.
    let casts: Vec<Option<SqlType>> = types
        .iter()
        .map(|t| t.as_ref().and_then(sql_type))
        .collect();
    let lower = sql.to_ascii_lowercase();
    let has_casts = casts.iter().any(Option::is_some);
    let has_subquery = lower
        .split('(')
        .skip(1)
        .any(|after| after.trim_start().starts_with("select"));
    let has_escape = lower.contains("escape");
    if !has_casts && !has_subquery && !has_escape {
        return None;
    }
    let mut statements = SqlParser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    let mut changed = false;
    let _ = visit_expressions_mut(&mut statements, |expr| {
        changed |= cast_placeholder(expr, &casts)
            || never_matching_subquery(expr)
            || (aggregate_scalar_subquery(expr) | hoist_outer_conditions(expr))
            || backslash_escape(expr);
        ControlFlow::<()>::Continue(())
    });
    changed.then(|| {
        statements
            .iter()
            .map(Statement::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

fn cast_placeholder(expr: &mut Expr, casts: &[Option<SqlType>]) -> bool {
    if let Expr::Value(v) = expr
        && let Value::Placeholder(name) = &v.value
        && let Some(Ok(n)) = name.strip_prefix('$').map(str::parse::<usize>)
        && let Some(Some(data_type)) = n.checked_sub(1).and_then(|i| casts.get(i))
    {
        *expr = Expr::Cast {
            kind: CastKind::DoubleColon,
            expr: Box::new(expr.clone()),
            data_type: data_type.clone(),
            array: false,
            format: None,
        };
        return true;
    }
    false
}

/// prov9 has no sequences, so `pg_get_serial_sequence()` is always NULL, and a scalar subquery
/// whose WHERE requires equality with it finds no row: it is NULL. Folding it away matters
/// because DataFusion cannot decorrelate the subquery SQLAlchemy wraps around it.
fn never_matching_subquery(expr: &mut Expr) -> bool {
    let Expr::Subquery(query) = expr else {
        return false;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    let Some(selection) = &select.selection else {
        return false;
    };
    let mut conjuncts = vec![selection];
    let mut never = false;
    while let Some(e) = conjuncts.pop() {
        match e {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => conjuncts.extend([left.as_ref(), right.as_ref()]),
            Expr::Nested(inner) => conjuncts.push(inner),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => {
                never |=
                    calls(left, "pg_get_serial_sequence") || calls(right, "pg_get_serial_sequence")
            }
            _ => {}
        }
    }
    if !never {
        return false;
    }
    // The subquery's parameters still arrive by position: keep them in the statement (in a
    // branch that never runs), so every `$n` keeps its type.
    let mut kept: Vec<String> = Vec::new();
    let mut typed: Vec<String> = Vec::new();
    let _ = visit_expressions(&**query, |e| {
        match e {
            Expr::Cast { expr: inner, .. } => {
                if let Expr::Value(v) = inner.as_ref()
                    && let Value::Placeholder(name) = &v.value
                {
                    typed.push(name.clone());
                    kept.push(e.to_string());
                }
            }
            Expr::Value(v) => {
                if let Value::Placeholder(name) = &v.value {
                    kept.push(name.clone());
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    kept.retain(|k| !typed.contains(k));
    let null = if kept.is_empty() {
        Some(Expr::Value(Value::Null.into()))
    } else {
        let tests: Vec<String> = kept.iter().map(|k| format!("{k} IS NULL")).collect();
        SqlParser::new(&PostgreSqlDialect {})
            .try_with_sql(&format!(
                "CASE WHEN FALSE AND {} THEN NULL END",
                tests.join(" AND ")
            ))
            .and_then(|mut p| p.parse_expr())
            .ok()
    };
    match null {
        Some(null) => {
            *expr = null;
            true
        }
        None => false,
    }
}

fn calls(expr: &Expr, function: &str) -> bool {
    let mut found = false;
    let _ = visit_expressions(expr, |e| {
        if let Expr::Function(f) = e
            && f.name
                .0
                .last()
                .is_some_and(|part| part.to_string().eq_ignore_ascii_case(function))
        {
            found = true;
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// `(SELECT x FROM … WHERE …)` → `(SELECT max(x) FROM … WHERE …)` when it may be correlated and
/// does not aggregate, group, limit or order.
fn aggregate_scalar_subquery(expr: &mut Expr) -> bool {
    let Expr::Subquery(query) = expr else {
        return false;
    };
    let Some(item) = plain_single_projection(query) else {
        return false;
    };
    let (inner, alias) = match item {
        SelectItem::UnnamedExpr(e) => (e.clone(), None),
        SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), Some(alias.clone())),
        _ => return false,
    };
    let mut aggregated = false;
    let _ = visit_expressions(&inner, |e| {
        if let Expr::Function(f) = e
            && AGGREGATES.contains(&f.name.to_string().to_ascii_lowercase().as_str())
        {
            aggregated = true;
        }
        ControlFlow::<()>::Continue(())
    });
    if aggregated {
        return false;
    }
    let Ok(wrapped) = SqlParser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("max({inner})"))
        .and_then(|mut p| p.parse_expr())
    else {
        return false;
    };
    *item = match alias {
        Some(alias) => SelectItem::ExprWithAlias {
            expr: wrapped,
            alias,
        },
        None => SelectItem::UnnamedExpr(wrapped),
    };
    true
}

/// `(SELECT … FROM t WHERE o.flag AND t.k = o.k)` → `CASE WHEN o.flag THEN (SELECT … FROM t
/// WHERE t.k = o.k) END`: conditions on the outer row only, which DataFusion cannot decorrelate,
/// move out of the subquery. A condition counts as outer when every column in it is qualified
/// by a name that is not one of the subquery's relations.
fn hoist_outer_conditions(expr: &mut Expr) -> bool {
    let Expr::Subquery(query) = expr else {
        return false;
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return false;
    };
    if !reads_only_catalog(select) {
        return false;
    }
    let mut inner_names: Vec<String> = Vec::new();
    for from in &select.from {
        for factor in std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation))
        {
            if let TableFactor::Table { name, alias, .. } = factor {
                inner_names.push(name.to_string().to_ascii_lowercase());
                if let Some(last) = name.0.last() {
                    inner_names.push(last.to_string().to_ascii_lowercase());
                }
                if let Some(alias) = alias {
                    inner_names.push(alias.name.value.to_ascii_lowercase());
                }
            } else {
                return false; // derived tables: their names are not known here
            }
        }
    }
    let Some(selection) = select.selection.take() else {
        return false;
    };
    let mut conjuncts = Vec::new();
    split_and(selection, &mut conjuncts);
    let (outer, inner): (Vec<Expr>, Vec<Expr>) = conjuncts
        .into_iter()
        .partition(|c| is_outer_only(c, &inner_names));
    select.selection = join_and(inner);
    if outer.is_empty() {
        return false;
    }
    let condition = join_and(outer).expect("at least one condition");
    let Ok(case) = SqlParser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("CASE WHEN {condition} THEN {expr} END"))
        .and_then(|mut p| p.parse_expr())
    else {
        return false;
    };
    *expr = case;
    true
}

fn split_and(expr: Expr, out: &mut Vec<Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_and(*left, out);
            split_and(*right, out);
        }
        Expr::Nested(inner)
            if matches!(
                *inner,
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            split_and(*inner, out)
        }
        other => out.push(other),
    }
}

fn join_and(conjuncts: Vec<Expr>) -> Option<Expr> {
    conjuncts.into_iter().reduce(|left, right| Expr::BinaryOp {
        left: Box::new(left),
        op: BinaryOperator::And,
        right: Box::new(right),
    })
}

fn is_outer_only(condition: &Expr, inner_names: &[String]) -> bool {
    let mut columns = 0;
    let mut outer = true;
    let _ = visit_expressions(condition, |e| {
        match e {
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                columns += 1;
                let qualifier = parts[..parts.len() - 1]
                    .iter()
                    .map(|p| p.value.to_ascii_lowercase())
                    .collect::<Vec<_>>();
                let last = qualifier.last().cloned().unwrap_or_default();
                if inner_names.contains(&qualifier.join(".")) || inner_names.contains(&last) {
                    outer = false;
                }
            }
            Expr::Identifier(_)
            | Expr::Subquery(_)
            | Expr::Exists { .. }
            | Expr::InSubquery { .. } => {
                outer = false;
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    outer && columns > 0
}

/// Whether every relation a subquery reads is a catalog table (pg_catalog, information_schema):
/// the subquery rewrites are for the clients' catalog queries, never for queries over data,
/// where Postgres's "more than one row" error must not turn into an answer.
fn reads_only_catalog(select: &Select) -> bool {
    !select.from.is_empty()
        && select.from.iter().all(|from| {
            std::iter::once(&from.relation)
                .chain(from.joins.iter().map(|j| &j.relation))
                .all(|factor| match factor {
                    TableFactor::Table { name, .. } => {
                        let parts: Vec<String> = name
                            .0
                            .iter()
                            .map(|p| p.to_string().to_ascii_lowercase())
                            .collect();
                        match parts.as_slice() {
                            [schema, _] => schema == "pg_catalog" || schema == "information_schema",
                            [table] => table.starts_with("pg_"),
                            _ => false,
                        }
                    }
                    _ => false,
                })
        })
}

fn plain_single_projection(query: &mut Query) -> Option<&mut SelectItem> {
    if query.limit_clause.is_some() || query.order_by.is_some() || query.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    if !reads_only_catalog(select) {
        return None;
    }
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if grouped || select.having.is_some() || select.distinct.is_some() || select.from.is_empty() {
        return None;
    }
    match select.projection.as_mut_slice() {
        [item] => Some(item),
        _ => None,
    }
}

/// `LIKE 'pg/_%' ESCAPE '/'` → `LIKE 'pg\_%'`.
fn backslash_escape(expr: &mut Expr) -> bool {
    let (Expr::Like {
        pattern,
        escape_char,
        ..
    }
    | Expr::ILike {
        pattern,
        escape_char,
        ..
    }) = expr
    else {
        return false;
    };
    let Some(escape) = escape_char.as_ref().and_then(|e| match &e.value {
        Value::SingleQuotedString(s) => s.chars().next().filter(|_| s.chars().count() == 1),
        _ => None,
    }) else {
        return false;
    };
    if escape == '\\' {
        return false;
    }
    let literal = match pattern.as_ref() {
        Expr::Value(p) => match &p.value {
            Value::SingleQuotedString(text) => Some(text.clone()),
            _ => None,
        },
        _ => None,
    };
    let Some(text) = literal else {
        // A pattern computed at run time (SQLAlchemy binds it): convert it there.
        let Ok(converted) = SqlParser::new(&PostgreSqlDialect {})
            .try_with_sql(&format!(
                "replace(replace({pattern}, '\\', '\\\\'), '{escape}', '\\')"
            ))
            .and_then(|mut p| p.parse_expr())
        else {
            return false;
        };
        **pattern = converted;
        *escape_char = None;
        return true;
    };
    let Expr::Value(p) = pattern.as_mut() else {
        return false;
    };
    let mut converted = String::with_capacity(text.len() + 2);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == escape {
            converted.push('\\');
            if let Some(next) = chars.next() {
                converted.push(next);
            }
        } else if c == '\\' {
            converted.push_str("\\\\");
        } else {
            converted.push(c);
        }
    }
    p.value = Value::SingleQuotedString(converted);
    *escape_char = None;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_become_casts() {
        let typed = rewrite(
            "SELECT $1, $2 FROM runs WHERE run_id = $3",
            &[Some(Type::INT8), Some(Type::FLOAT8), Some(Type::TEXT)],
        )
        .unwrap();
        assert_eq!(
            typed,
            "SELECT $1::BIGINT, $2::DOUBLE PRECISION FROM runs WHERE run_id = $3"
        );
        assert_eq!(rewrite("SELECT $1", &[None]), None);
        assert_eq!(rewrite("SELECT $1", &[Some(Type::TEXT)]), None);
    }

    #[test]
    fn correlated_scalar_subqueries_aggregate() {
        let sql = "SELECT a.x, (SELECT b.y AS y FROM pg_catalog.pg_type AS b WHERE b.k = a.k) AS y FROM a";
        assert_eq!(
            rewrite(sql, &[]).unwrap(),
            "SELECT a.x, (SELECT max(b.y) AS y FROM pg_catalog.pg_type AS b WHERE b.k = a.k) AS y FROM a"
        );
        // Over data, Postgres's "more than one row" error must stay an error.
        assert_eq!(
            rewrite(
                "SELECT (SELECT e.dst FROM lineage_edges AS e WHERE e.src = r.run_id) FROM runs AS r",
                &[]
            ),
            None
        );
        // Already one row: left alone.
        for sql in [
            "SELECT (SELECT count(*) FROM pg_type AS b WHERE b.k = a.k) FROM a",
            "SELECT (SELECT b.y FROM pg_type AS b WHERE b.k = a.k LIMIT 1) FROM a",
            "SELECT (SELECT 1) FROM a",
        ] {
            assert_eq!(rewrite(sql, &[]), None, "{sql}");
        }
    }

    #[test]
    fn outer_conditions_leave_the_subquery() {
        let sql = "SELECT (SELECT d.v FROM pg_catalog.pg_attrdef AS d WHERE a.hasdef AND d.id = a.id) FROM pg_catalog.pg_attribute AS a";
        assert_eq!(
            rewrite(sql, &[]).unwrap(),
            "SELECT CASE WHEN a.hasdef THEN (SELECT max(d.v) FROM pg_catalog.pg_attrdef AS d WHERE d.id = a.id) END FROM pg_catalog.pg_attribute AS a"
        );
        let sql = "SELECT (SELECT pg_catalog.pg_attrdef.v FROM pg_catalog.pg_attrdef WHERE pg_catalog.pg_attribute.x AND pg_catalog.pg_attrdef.id = 1) FROM pg_catalog.pg_attribute";
        assert!(
            rewrite(sql, &[])
                .unwrap()
                .contains("CASE WHEN pg_catalog.pg_attribute.x THEN")
        );
    }

    #[test]
    fn like_escape_becomes_backslash() {
        assert_eq!(
            rewrite("SELECT n FROM s WHERE n NOT LIKE 'pg/_%' ESCAPE '/'", &[]).unwrap(),
            r"SELECT n FROM s WHERE n NOT LIKE 'pg\_%'"
        );
        assert_eq!(
            rewrite(r"SELECT 1 WHERE 'a' LIKE 'a\_%' ESCAPE '\'", &[]),
            None
        );
        assert_eq!(
            rewrite("SELECT n FROM s WHERE n NOT LIKE $1 || '%' ESCAPE '/'", &[]).unwrap(),
            r"SELECT n FROM s WHERE n NOT LIKE replace(replace($1 || '%', '\', '\\'), '/', '\')"
        );
    }

    #[test]
    fn subqueries_on_serial_sequences_are_null() {
        let sql = "SELECT (SELECT s.start FROM seq AS s WHERE a.x <> '' AND s.id = CAST(pg_get_serial_sequence(a.t, a.c) AS OID)) FROM a";
        assert_eq!(rewrite(sql, &[]).unwrap(), "SELECT NULL FROM a");
        let sql = "SELECT (SELECT f($1::TEXT, s.start) FROM seq AS s WHERE a.x <> $2 AND s.id = CAST(pg_get_serial_sequence(a.t, a.c) AS OID)), $3 FROM a";
        assert_eq!(
            rewrite(sql, &[]).unwrap(),
            "SELECT CASE WHEN false AND $1::TEXT IS NULL AND $2 IS NULL THEN NULL END, $3 FROM a"
        );
    }
}
