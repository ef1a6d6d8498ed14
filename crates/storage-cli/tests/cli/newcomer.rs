//! A newcomer's session as a test: the README's `storage` commands, read from README.md itself and run in order in
//! a fresh directory, once with the built-in default and once against the local RGW, each checked against one table
//! of exit codes and output shapes. A command the README gains without a row here fails the test.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use crate::{Rgw, backends, http, serving, stderr, stdout};

const README: &str = include_str!("../../../../README.md");
/// The section whose ```sh blocks are the session.
const SECTION: &str = "## The `storage` command";

/// What a command must do: its exit code and the shape of what it prints, never its exact sentences.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exit 0; standard output is one stored name: this stem, `_` and seven characters if taken, this extension.
    StoredName(&'static str, &'static str),
    /// Exit 0; standard output is exactly this.
    Prints(&'static str),
    /// Exit 0; standard output is one line.
    OneLine,
    /// Exit 0; standard output contains each of these.
    Mentions(&'static [&'static str]),
    /// Exit 0, nothing on standard output; the local file `.0` now holds the bytes of the local file `.1`.
    Writes(&'static str, &'static str),
    /// Exit 0; standard output is one signed link (a URL with a query), which must serve the file.
    Link,
    /// Exit 0; standard output is JSON with these top-level keys.
    Json(&'static [&'static str]),
    /// Keeps serving until stopped: the session's last link answers 200 through it.
    Serves,
    /// Exits with this code; standard error is one line mentioning this.
    Fails(i32, &'static str),
    /// Not a `storage` command: the shell set-up of the README's RGW block, which the test takes from `local_rgw()`.
    ShellSetup,
}

/// One README command and what it does with the built-in default and against RGW (`--storage s3://…` added).
#[derive(Debug)]
struct Row {
    readme: &'static str,
    on_default: Expect,
    on_rgw: Expect,
}

use Expect::*;

/// The session.
const SESSION: &[Row] = &[
    Row {
        readme: "storage put report.pdf",
        on_default: StoredName("report", ".pdf"),
        on_rgw: StoredName("report", ".pdf"),
    },
    Row {
        readme: "storage put photo.jpg media/photo.jpg --private --content-type image/jpeg",
        on_default: Prints("media/photo.jpg"),
        on_rgw: Prints("media/photo.jpg"),
    },
    Row {
        readme: "storage get media/photo.jpg copy.jpg",
        on_default: Writes("copy.jpg", "photo.jpg"),
        on_rgw: Writes("copy.jpg", "photo.jpg"),
    },
    Row {
        readme: "storage ls --recursive --long",
        on_default: Mentions(&["media/photo.jpg", "report"]),
        on_rgw: Mentions(&["media/photo.jpg", "report"]),
    },
    Row {
        readme: "storage stat media/photo.jpg",
        on_default: Mentions(&["image/jpeg"]),
        on_rgw: Mentions(&["image/jpeg"]),
    },
    Row {
        readme: "storage url media/photo.jpg --expires 10m --download-name \"Holiday.jpg\"",
        on_default: Link,
        on_rgw: Link,
    },
    // `private` is not a storage the built-in default (or a `--storage` URL) configures: wrong usage, naming it.
    Row {
        readme: "storage cp report.pdf private:2024/report.pdf",
        on_default: Fails(2, "private"),
        on_rgw: Fails(2, "private"),
    },
    Row { readme: "storage mv old.txt new.txt", on_default: Prints("new.txt"), on_rgw: Prints("new.txt") },
    Row { readme: "storage rm new.txt", on_default: Prints(""), on_rgw: Prints("") },
    Row { readme: "storage serve", on_default: Serves, on_rgw: Fails(2, "serve") },
    Row { readme: "storage migrate media s3-media --verify", on_default: Fails(1, "media"), on_rgw: Fails(1, "media") },
    Row { readme: "storage migrate old new --live", on_default: Fails(1, "old"), on_rgw: Fails(1, "old") },
    Row {
        readme: "storage upload-url uploads/ --max-size 10MiB --content-type image/",
        on_default: Mentions(&["POST http://", "uploads/"]),
        // A create-only form is refused on S3, naming the way out.
        on_rgw: Fails(1, "--overwrite"),
    },
    Row {
        readme: "storage s3 policy --public-prefix media/open/",
        on_default: Fails(2, "bucket"),
        on_rgw: Json(&["Statement"]),
    },
    Row { readme: "storage gc", on_default: OneLine, on_rgw: OneLine },
    Row { readme: "eval \"$(cargo xtask s3 start)\"", on_default: ShellSetup, on_rgw: ShellSetup },
    Row {
        readme: "export AWS_ACCESS_KEY_ID=$STORAGE_S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$STORAGE_S3_SECRET_ACCESS_KEY",
        on_default: ShellSetup,
        on_rgw: ShellSetup,
    },
    Row {
        readme: "storage --storage \"s3://$STORAGE_S3_BUCKET/demo?endpoint=$STORAGE_S3_ENDPOINT&region=$STORAGE_S3_REGION\" put README.md --private",
        on_default: StoredName("README", ".md"),
        on_rgw: StoredName("README", ".md"),
    },
];

/// The commands of the section's ```sh blocks, in order: comments dropped, `a && b` as two commands.
fn readme_commands() -> Vec<String> {
    let section = README.split(SECTION).nth(1).expect("the README has the `storage` command section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut commands = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```sh" {
            for line in lines.by_ref().take_while(|line| !line.starts_with("```")) {
                let command = line.split(" # ").next().unwrap_or(line).trim();
                commands.extend(command.split(" && ").map(str::to_owned).filter(|command| !command.is_empty()));
            }
        }
    }
    commands
}

/// A shell command's words: double quotes group, `$NAME` is taken from `vars`.
fn words(command: &str, vars: &BTreeMap<String, String>) -> Vec<String> {
    let mut expanded = command.to_owned();
    // Longest names first, so `$STORAGE_S3_BUCKET` is not read as a shorter name's prefix.
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort_by_key(|name| std::cmp::Reverse(name.len()));
    for name in names {
        expanded = expanded.replace(&format!("${name}"), &vars[name]);
    }
    let (mut words, mut word, mut quoted) = (Vec::new(), String::new(), false);
    for c in expanded.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => words.extend((!word.is_empty()).then(|| std::mem::take(&mut word))),
            c => word.push(c),
        }
    }
    words.extend((!word.is_empty()).then_some(word));
    words
}

/// Where a session runs: its directory, its environment, and the `--storage` it adds (none for the default).
struct Session {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    storage: Option<String>,
    vars: BTreeMap<String, String>,
    /// The last link a command printed, which `serve` must serve.
    last_link: Option<String>,
}

impl Session {
    fn new(rgw: &Rgw, storage: Option<String>) -> Session {
        let dir = tempfile::tempdir().unwrap();
        // The files the README's commands put, and a stored `old.txt` for its `mv`.
        std::fs::write(dir.path().join("report.pdf"), b"%PDF-1.7 a newcomer's report").unwrap();
        std::fs::write(dir.path().join("photo.jpg"), b"\xff\xd8\xff\xe0 a newcomer's photo").unwrap();
        std::fs::write(dir.path().join("old.txt"), b"old").unwrap();
        std::fs::write(dir.path().join("README.md"), README).unwrap();
        let mut vars = storage_conformance::local_rgw().clone();
        // The RGW block's `demo` prefix, fresh for every run.
        let demo = backends::unique_prefix();
        let mut env = rgw.env.clone();
        // The built-in default's links name no real server: `serve` listens where the system puts it (see
        // `check_serves`), not on 8000.
        env.push(("STORAGE_DEFAULT_BASE_URL".to_owned(), LINKS_BASE.to_owned()));
        vars.insert("DEMO".to_owned(), demo);
        let session = Session { dir, env, storage, vars, last_link: None };
        let stored = session.run(&["put", "old.txt"]);
        assert!(stored.status.success(), "store old.txt: {}", stderr(&stored));
        session
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_storage"));
        if let Some(storage) = self.storage.as_deref().filter(|_| !args.contains(&"--storage")) {
            command.args(["--storage", storage]);
        }
        command.args(args).current_dir(self.dir.path()).env_remove("STORAGE_CONFIG").envs(self.env.iter().cloned());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().expect("run the storage binary");
        super::assert_causes_said_once(&stderr(&output));
        output
    }

    /// Run one README command; what went wrong, if anything.
    fn check(&mut self, readme: &str, expect: Expect) -> Result<(), String> {
        let readme = readme.replace("/demo?", "/$DEMO?");
        let words = words(&readme, &self.vars);
        if let ShellSetup = expect {
            return match words.first().map(String::as_str) {
                Some("eval" | "export") => Ok(()),
                _ => Err("is a `storage` command, not shell set-up".into()),
            };
        }
        assert_eq!(words[0], "storage", "{readme}");
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        if let Serves = expect {
            return self.check_serves(&args);
        }
        let output = self.run(&args);
        let (code, out, err) = (output.status.code(), stdout(&output), stderr(&output));
        let said = format!("exit {code:?}, stdout {out:?}, stderr {err:?}");
        if let Fails(expected, mentions) = expect {
            let fits = code == Some(expected) && err.lines().count() == 1 && err.contains(mentions);
            return if fits { Ok(()) } else { Err(format!("expected exit {expected} naming {mentions:?}; {said}")) };
        }
        if code != Some(0) {
            return Err(format!("expected exit 0; {said}"));
        }
        let fits = match expect {
            StoredName(stem, extension) => out
                .strip_prefix(stem)
                .and_then(|rest| rest.strip_suffix(extension))
                .is_some_and(|middle| middle.is_empty() || (middle.len() == 8 && middle.starts_with('_'))),
            Prints(exactly) => out == exactly,
            OneLine => out.lines().count() == 1,
            Mentions(parts) => parts.iter().all(|part| out.contains(part)),
            Writes(file, same_as) => {
                out.is_empty()
                    && std::fs::read(self.dir.path().join(file)).ok()
                        == std::fs::read(self.dir.path().join(same_as)).ok()
            }
            Link => self.check_link(&out),
            Json(keys) => serde_json::from_str::<serde_json::Value>(&out)
                .is_ok_and(|json| keys.iter().all(|key| json.get(key).is_some())),
            Serves | Fails(..) | ShellSetup => unreachable!("handled above"),
        };
        if fits { Ok(()) } else { Err(format!("expected {expect:?}; {said}")) }
    }

    /// A signed link: one `http` URL with a query. An S3 link is fetched now; a disk link once `serve` runs.
    fn check_link(&mut self, out: &str) -> bool {
        let signed = out.lines().count() == 1 && out.starts_with("http") && out.contains('?');
        self.last_link = Some(out.to_owned());
        signed && (self.storage.is_none() || http().status(out) == Some(200))
    }

    /// `serve` (stopped after two minutes at the latest, should the test die) serves the session's last link: on
    /// the port the system picks (`--listen 127.0.0.1:0`), which it says, and which the link is then sent to (its
    /// signature covers the path and query, not the host).
    fn check_serves(&self, args: &[&str]) -> Result<(), String> {
        let link = self.last_link.clone().ok_or("no link was printed before `serve`")?;
        let listen: &[&str] = if args.contains(&"--listen") { &[] } else { &["--listen", "127.0.0.1:0"] };
        let (mut child, address) = serving(self.command(&[args, listen, &["--serve-for", "2m"]].concat()));
        let link = link.replacen(LINKS_BASE, &format!("http://{address}/"), 1);
        let status = http().status(&link);
        let _ = child.kill();
        let _ = child.wait();
        match status {
            Some(200) => Ok(()),
            other => Err(format!("`serve` answered {other:?} for the session's link {link}")),
        }
    }
}

/// The base URL of the built-in default's links in a session: a host that never resolves.
const LINKS_BASE: &str = "http://links.invalid/";

/// Every README command has a row, every row is a README command, and each runs as its row says.
fn run_session(storage: Option<String>) {
    let commands = readme_commands();
    let uncovered: Vec<&String> = commands.iter().filter(|c| !SESSION.iter().any(|row| row.readme == *c)).collect();
    assert!(uncovered.is_empty(), "README commands the newcomer table does not cover (add a row): {uncovered:#?}");
    let stale: Vec<&str> = SESSION.iter().map(|row| row.readme).filter(|r| !commands.iter().any(|c| c == r)).collect();
    assert!(stale.is_empty(), "rows for commands the README no longer has: {stale:#?}");
    let rgw = Rgw::new();
    let on_rgw = storage.is_some();
    let mut session = Session::new(&rgw, storage);
    let failures: Vec<String> = commands
        .iter()
        .filter_map(|command| {
            let row = SESSION.iter().find(|row| row.readme == *command).expect("covered");
            let expect = if on_rgw { row.on_rgw } else { row.on_default };
            session.check(command, expect).err().map(|why| format!("{command}\n    {why}"))
        })
        .collect();
    assert!(failures.is_empty(), "README commands that misbehave:\n{}", failures.join("\n"));
}

#[test]
fn the_readme_session_on_the_built_in_default() {
    run_session(None);
}

#[test]
fn the_readme_session_against_rgw() {
    let rgw = Rgw::new();
    run_session(Some(rgw.url(&backends::unique_prefix())));
}

#[test]
fn readme_commands_are_read_with_their_quotes_and_chains() {
    let commands = readme_commands();
    assert!(commands.len() >= 15, "{commands:#?}");
    assert!(commands.contains(&"storage rm new.txt".to_owned()), "`a && b` is two commands");
    let vars = BTreeMap::from([("B".to_owned(), "bucket".to_owned())]);
    assert_eq!(
        words("storage --storage \"s3://$B/x?a=1&b=2\" url \"A B.jpg\"", &vars),
        ["storage", "--storage", "s3://bucket/x?a=1&b=2", "url", "A B.jpg"]
    );
}
