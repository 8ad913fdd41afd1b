//! The README's SQL as a newcomer pastes it: every ```sql block of README.md goes to psql
//! against `prov9 serve --demo`, as a whole block. Each must run without an error, and every
//! statement that returns rows must return some: the text around each block promises answers.
//! A block right after a `<!-- not run against the demo: REASON -->` line is left out (it
//! needs data the demo does not hold). The files of `sql/examples/`, which the README points
//! to, are held to the same.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::psql::{has_psql, psql};

/// A ```sql block (or an example file): its text, and why it is not run, if it is not.
pub(crate) struct Block {
    pub(crate) text: String,
    pub(crate) not_run: Option<String>,
    /// Where it is, for messages: `README.md:41` or a file's path.
    name: String,
}

pub(crate) fn sql_blocks(markdown: &str) -> Vec<Block> {
    const NOT_RUN: &str = "<!-- not run against the demo:";
    let lines: Vec<&str> = markdown.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() == "```sql" {
            let before = lines[..i].iter().rev().find(|l| !l.trim().is_empty());
            let not_run = before
                .and_then(|l| l.trim().strip_prefix(NOT_RUN))
                .map(|r| r.trim_end_matches("-->").trim().to_string());
            let end = (i + 1..lines.len())
                .find(|&j| lines[j].trim_end() == "```")
                .expect("a closed block");
            blocks.push(Block {
                text: lines[i + 1..end].join("\n"),
                not_run,
                name: format!("README.md:{}", i + 1),
            });
            i = end;
        }
        i += 1;
    }
    blocks
}

#[test]
fn readme_sql_blocks_answer_against_the_demo() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut blocks = sql_blocks(&readme);
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root.join("sql/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    examples.sort();
    for example in examples {
        blocks.push(Block {
            text: std::fs::read_to_string(&example).unwrap(),
            not_run: None,
            name: example.display().to_string(),
        });
    }
    assert!(
        blocks.len() >= 8,
        "README.md has {} sql blocks",
        blocks.len()
    );
    if !has_psql() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("wh"), &["--demo"]);
    let started = Instant::now();
    let mut ran = 0;
    for block in &blocks {
        if let Some(reason) = &block.not_run {
            eprintln!("{}: not run ({reason})", block.name);
            continue;
        }
        // Time travel needs history: a block going back N seconds runs once the demo's
        // commit is that old, as it is for anyone who has read that far.
        if let Some(back) = seconds_back(&block.text) {
            let due = started + Duration::from_secs(back + 1);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let file = dir.path().join(format!("block-{ran}.sql"));
        std::fs::write(&file, &block.text).unwrap();
        let out = psql(
            &server,
            &["-v", "ON_ERROR_STOP=1", "-f", file.to_str().unwrap()],
        );
        let (text, errors) = (stdout(&out), stderr(&out));
        assert!(
            out.status.success() && !errors.contains("ERROR"),
            "{}: the block fails in psql:\n{errors}\n{text}",
            block.name
        );
        assert!(
            !text.contains("(0 rows)"),
            "{}: a query of the block answers nothing:\n{text}",
            block.name
        );
        assert!(
            text.contains(" row"),
            "{}: the block answered no rows at all:\n{text}",
            block.name
        );
        ran += 1;
    }
    assert!(ran >= 7, "only {ran} blocks ran");
}

/// `N seconds ago` in a block: how far back it travels.
fn seconds_back(text: &str) -> Option<u64> {
    let at = text.find(" seconds ago")?;
    text[..at]
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}
