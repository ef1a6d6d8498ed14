//! `cargo xtask bench serve`: `storage serve` against nginx's `secure_link_md5`, both checking an expiring link on
//! every request, measured by wrk on the same files in the same run.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::bench::{Goal, peer};
use crate::workspace_root;

/// The files served: two small ones for request rates, one large one for throughput.
const FILES: [(&str, usize); 3] = [("small.bin", 4 << 10), ("medium.bin", 100 << 10), ("large.bin", 100 << 20)];

/// How long wrk drives each server for each row.
const SECONDS: u32 = 8;

/// What one wrk run measured.
struct Load {
    requests_per_second: f64,
    mebibytes_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    refused: u64,
}

pub fn bench() -> Result<Vec<Goal>, String> {
    eprintln!("xtask: bench serve (storage serve vs nginx secure_link_md5, wrk on 127.0.0.1)");
    let peers = peer("serve-peers.sh")?;
    let mut paths = peers.lines();
    let (Some(nginx), Some(wrk)) = (paths.next(), paths.next()) else {
        return Err("serve-peers.sh did not print the paths of nginx and wrk".into());
    };
    let storage = crate::bench::storage_command()?;
    let dir = workspace_root().join("target/bench/serve");
    let _ = std::fs::remove_dir_all(&dir);
    let www = dir.join("www/files");
    std::fs::create_dir_all(&www).map_err(|err| err.to_string())?;
    // nginx cannot listen on a port the system picks, so it gets one just handed out (`start_nginx` fails loudly
    // should another process take it first); `storage serve` takes its own and says which.
    let nginx_port = candidate_port()?;

    // The same bytes in both: the storage's files (stored through the command) and nginx's copy.
    let config = dir.join("storage.toml");
    let write_config = |authority: &str| {
        let config_text = format!(
            "[storages.default]\nbackend = \"fs\"\nlocation = \"{}\"\nbase_url = \"http://{authority}/files/\"\n",
            dir.join("data").display()
        );
        std::fs::write(&config, config_text).map_err(|err| err.to_string())
    };
    let ours_command = |args: &[&str]| {
        let mut command = Command::new(&storage);
        command.arg("--config").arg(&config).args(args);
        command
    };
    let mut servers = Servers::default();
    // Served first, on the port the system picks; only then does the configuration name it, for the links.
    write_config("127.0.0.1:0")?;
    let (ours, ours_address) = serving(ours_command(&["serve", "--listen", "127.0.0.1:0"]))?;
    servers.ours = Some(ours);
    write_config(&ours_address)?;
    let mut ours_urls = Vec::new();
    for (name, size) in FILES {
        let local = www.join(name);
        std::fs::write(&local, crate::bench::pseudo_random(size as u64, size)).map_err(|err| err.to_string())?;
        output(ours_command(&["put", &local.to_string_lossy(), name]))?;
        ours_urls.push(output(ours_command(&["url", name, "--expires", "1h"]))?.trim().to_owned());
    }
    let expires = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) + 3600;
    let mut nginx_urls = Vec::new();
    for (name, _) in FILES {
        let uri = format!("/files/{name}");
        let token = nginx_token(&format!("{expires}{uri} {NGINX_SECRET}"))?;
        nginx_urls.push(format!("http://127.0.0.1:{nginx_port}{uri}?md5={token}&expires={expires}"));
    }

    servers.start_nginx(nginx, &dir, nginx_port)?;
    wait_for_port(nginx_port)?;

    let run = |label: &str, url: &str, connections: u32, header: Option<&str>| {
        let load = wrk_run(wrk, url, connections, header)?;
        eprintln!(
            "xtask:   {label}: {:.0} requests/s, {:.1} MiB/s, p50 {:.2} ms, p99 {:.2} ms",
            load.requests_per_second, load.mebibytes_per_second, load.p50_ms, load.p99_ms
        );
        Ok::<_, String>(load)
    };
    let served = |load: &Load, what: &str| {
        if load.refused > 0 || load.requests == 0 {
            return Err(format!("{what}: {} of {} requests were not answered 2xx", load.refused, load.requests));
        }
        Ok(())
    };
    let mut goals = Vec::new();
    for (index, label) in [(0, "4 KiB"), (1, "100 KiB")] {
        let nginx_load = run(&format!("nginx, {label}"), &nginx_urls[index], 64, None)?;
        let ours_load = run(&format!("storage serve, {label}"), &ours_urls[index], 64, None)?;
        served(&nginx_load, "nginx")?;
        served(&ours_load, "storage serve")?;
        let ratio = ours_load.requests_per_second / nginx_load.requests_per_second;
        goals.push(Goal::new(
            format!("serve a {label} file through a signed link, 64 connections: requests/s vs nginx secure_link_md5"),
            format!(
                "{ratio:.2}x ({:.0} vs {:.0}/s; p50 {:.2} vs {:.2} ms, p99 {:.2} vs {:.2} ms)",
                ours_load.requests_per_second,
                nginx_load.requests_per_second,
                ours_load.p50_ms,
                nginx_load.p50_ms,
                ours_load.p99_ms,
                nginx_load.p99_ms
            ),
            ">= 0.50x",
            ratio >= 0.5,
        ));
    }
    let nginx_large = run("nginx, 100 MiB", &nginx_urls[2], 4, None)?;
    let ours_large = run("storage serve, 100 MiB", &ours_urls[2], 4, None)?;
    served(&nginx_large, "nginx")?;
    served(&ours_large, "storage serve")?;
    let ratio = ours_large.mebibytes_per_second / nginx_large.mebibytes_per_second;
    goals.push(Goal::new(
        "serve a 100 MiB file through a signed link, 4 connections: throughput vs nginx",
        format!(
            "{ratio:.2}x ({:.0} vs {:.0} MiB/s)",
            ours_large.mebibytes_per_second, nginx_large.mebibytes_per_second
        ),
        ">= 0.80x",
        ratio >= 0.8,
    ));

    let range = "Range: bytes=1024-5119";
    let nginx_range = run("nginx, a 4 KiB range of 100 KiB", &nginx_urls[1], 64, Some(range))?;
    let ours_range = run("storage serve, a 4 KiB range of 100 KiB", &ours_urls[1], 64, Some(range))?;
    served(&nginx_range, "nginx")?;
    served(&ours_range, "storage serve")?;
    goals.push(Goal::context(
        "a 4 KiB `Range` of the 100 KiB file, 64 connections: requests/s",
        format!(
            "{:.2}x ({:.0} vs nginx {:.0}/s)",
            ours_range.requests_per_second / nginx_range.requests_per_second,
            ours_range.requests_per_second,
            nginx_range.requests_per_second
        ),
    ));

    let nginx_tampered = run("nginx, tampered link", &tampered(&nginx_urls[0]), 64, None)?;
    let ours_tampered = run("storage serve, tampered link", &tampered(&ours_urls[0]), 64, None)?;
    for (load, what) in [(&nginx_tampered, "nginx"), (&ours_tampered, "storage serve")] {
        if load.requests == 0 || load.refused != load.requests {
            return Err(format!(
                "{what} served {} of {} tampered requests",
                load.requests - load.refused,
                load.requests
            ));
        }
    }
    goals.push(Goal::context(
        "a tampered link, 64 connections: refusals (403) per second",
        format!(
            "{:.2}x ({:.0} vs nginx {:.0}/s)",
            ours_tampered.requests_per_second / nginx_tampered.requests_per_second,
            ours_tampered.requests_per_second,
            nginx_tampered.requests_per_second
        ),
    ));
    drop(servers);
    Ok(goals)
}

/// The secret of nginx's links (`secure_link_md5`), only ever on 127.0.0.1 for the run.
const NGINX_SECRET: &str = "bench-secret";

/// Both servers, stopped when dropped.
#[derive(Default)]
struct Servers {
    ours: Option<Child>,
    nginx: Option<(Child, String, PathBuf, PathBuf)>,
}

impl Servers {
    /// nginx in the foreground with its own prefix, one worker per core (Debian's `worker_processes auto`),
    /// `sendfile` on, checking `secure_link_md5` on every request.
    fn start_nginx(&mut self, nginx: &str, dir: &Path, port: u16) -> Result<(), String> {
        // A master started as root hands requests to workers running as `nobody`, which may not read the files.
        let root = output({
            let mut command = Command::new("id");
            command.arg("-u");
            command
        })?
        .trim()
            == "0";
        let conf = dir.join("nginx.conf");
        let text = format!(
            r#"{user}worker_processes auto;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    client_body_temp_path {dir}/temp;
    proxy_temp_path {dir}/temp;
    fastcgi_temp_path {dir}/temp;
    uwsgi_temp_path {dir}/temp;
    scgi_temp_path {dir}/temp;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
        location /files/ {{
            secure_link $arg_md5,$arg_expires;
            secure_link_md5 "$secure_link_expires$uri {NGINX_SECRET}";
            if ($secure_link = "") {{ return 403; }}
            if ($secure_link = "0") {{ return 410; }}
        }}
    }}
}}
"#,
            user = if root { "user root;\n" } else { "" },
            dir = dir.display(),
        );
        std::fs::write(&conf, text).map_err(|err| err.to_string())?;
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("nginx-error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| format!("nginx: {err}"))?;
        self.nginx = Some((child, nginx.to_owned(), dir.to_owned(), conf));
        Ok(())
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        if let Some(mut ours) = self.ours.take() {
            let _ = ours.kill();
            let _ = ours.wait();
        }
        if let Some((mut child, nginx, dir, conf)) = self.nginx.take() {
            // `-s stop` lets the master stop its workers too; killing the master would orphan them.
            let _ = Command::new(nginx).arg("-p").arg(&dir).arg("-c").arg(&conf).args(["-s", "stop"]).status();
            let _ = child.wait();
        }
    }
}

/// One wrk run of [`SECONDS`] with one thread (the other core is the server's).
fn wrk_run(wrk: &str, url: &str, connections: u32, header: Option<&str>) -> Result<Load, String> {
    let mut command = Command::new(wrk);
    command.args(["-t1", &format!("-c{connections}"), &format!("-d{SECONDS}s"), "--latency"]);
    if let Some(header) = header {
        command.args(["-H", header]);
    }
    command.arg(url);
    let text = output(command)?;
    let field = |prefix: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix).map(str::trim))
            .ok_or_else(|| format!("wrk printed no `{prefix}`:\n{text}"))
    };
    let requests = text
        .lines()
        .find_map(|line| line.trim().split_once(" requests in ").and_then(|(count, _)| count.parse().ok()))
        .ok_or_else(|| format!("wrk printed no request count:\n{text}"))?;
    let refused = match field("Non-2xx or 3xx responses:") {
        Ok(count) => count.parse().map_err(|_| format!("wrk's non-2xx count: {count}"))?,
        Err(_) => 0,
    };
    Ok(Load {
        requests_per_second: field("Requests/sec:")?.parse().map_err(|_| "wrk's Requests/sec".to_owned())?,
        mebibytes_per_second: with_unit(field("Transfer/sec:")?, &[("GB", 1024.0), ("MB", 1.0), ("KB", 1.0 / 1024.0)])?,
        p50_ms: with_unit(field("50%")?, &[("us", 0.001), ("ms", 1.0), ("s", 1000.0)])?,
        p99_ms: with_unit(field("99%")?, &[("us", 0.001), ("ms", 1.0), ("s", 1000.0)])?,
        requests,
        refused,
    })
}

/// A wrk quantity such as `1.19ms` or `2.15GB`, in the unit the scales are relative to.
fn with_unit(text: &str, scales: &[(&str, f64)]) -> Result<f64, String> {
    scales
        .iter()
        .find_map(|(unit, scale)| Some(text.strip_suffix(unit)?.parse::<f64>().ok()? * scale))
        .or_else(|| text.strip_suffix('B').and_then(|bytes| bytes.parse::<f64>().ok()).map(|b| b / (1 << 20) as f64))
        .ok_or_else(|| format!("cannot read wrk's `{text}`"))
}

/// The link with the last character of its signature changed.
fn tampered(url: &str) -> String {
    let mut url = url.to_owned();
    let signature_end = url.find("&expires=").unwrap_or(url.len());
    let at = signature_end - 1;
    let replacement = if &url[at..=at] == "A" { "B" } else { "A" };
    url.replace_range(at..=at, replacement);
    url
}

/// nginx's `secure_link_md5` token: MD5, base64url without padding (xtask is std only, so Python computes it).
fn nginx_token(input: &str) -> Result<String, String> {
    let script = "import base64, hashlib, sys; \
                  print(base64.urlsafe_b64encode(hashlib.md5(sys.argv[1].encode()).digest()).decode().rstrip('='))";
    let mut command = Command::new("python3");
    command.args(["-c", script, input]);
    Ok(output(command)?.trim().to_owned())
}

fn output(mut command: Command) -> Result<String, String> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|err| format!("{shown}: {err}"))?;
    if !output.status.success() {
        return Err(format!("{shown} failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Starts a serving `storage` command and returns it with the address it serves on, read from the line it prints
/// once its listener is bound (`storage: serving … on http://ADDRESS/`); what it prints later is read and dropped.
fn serving(mut command: Command) -> Result<(std::process::Child, String), String> {
    use std::io::BufRead as _;
    let mut child =
        command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().map_err(|err| format!("storage serve: {err}"))?;
    let mut lines = std::io::BufReader::new(child.stderr.take().ok_or("storage serve: no standard error")?).lines();
    let address = lines.by_ref().map_while(Result::ok).find_map(|line| {
        line.split(" on http://").nth(1).map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
    });
    std::thread::spawn(move || lines.for_each(drop));
    match address {
        Some(address) => Ok((child, address)),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err("storage serve ended before it said where it serves".into())
        }
    }
}

/// A port for a server that cannot be told to pick its own: one the system just handed out and took back.
fn candidate_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|err| err.to_string())?;
    listener.local_addr().map(|address| address.port()).map_err(|err| err.to_string())
}

/// Wait until a server accepts connections on `port` (for at most 30 s).
fn wait_for_port(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("nothing listened on 127.0.0.1:{port} within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
