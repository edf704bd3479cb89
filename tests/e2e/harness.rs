//! The pieces the browser scenario stands on: `mailport serve` and `mailport sandbox` as real
//! processes on loopback ports, Debian's chromedriver + headless Chromium driven through
//! fantoccini, bounded waits, and a screenshot after every step.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use mailport::sandbox::SandboxConfig;
use serde_json::{Value, json};

use crate::system_parts::SystemPart;

/// Where every step's PNG goes, independent of CARGO_TARGET_DIR so reviewers find it.
pub const SCREENSHOT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/e2e-screenshots");

/// No single wait in the scenario may take longer than this.
pub const WAIT: Duration = Duration::from_secs(20);

/// Access tokens the sandbox issues live 240 s: under Mailport's five-minute refresh
/// margin, so every token use refreshes and a revoked refresh token shows at once.
pub const ACCESS_TOKEN_LIFETIME_SECS: u64 = 240;

/// A child process killed (and reaped) when the test ends, whichever way it ends.
pub struct Proc {
    name: &'static str,
    child: Child,
    pub log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn spawn(name: &'static str, mut cmd: Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name, child, log }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits (at most 30 s) for a graceful exit with status 0.
    pub async fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(
                    status.success(),
                    "{} exited with {status} after SIGTERM:\n{}",
                    self.name,
                    self.output()
                );
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{} did not stop within 30 s of SIGTERM",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the process printed a line containing `needle`; returns that line.
    pub async fn wait_for_line(&mut self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.output().lines().find(|l| l.contains(needle)) {
                return line.trim().to_string();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before printing {needle:?}:\n{}",
                    self.name,
                    self.output()
                );
            }
            assert!(
                start.elapsed() < WAIT,
                "{} did not print {needle:?} within {WAIT:?}:\n{}",
                self.name,
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

async fn wait_http_ok(url: &str, what: &str) {
    let client = reqwest::Client::new();
    let start = Instant::now();
    loop {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "{what} did not answer {url} within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Chromium and chromedriver, from the environment or PATH.
#[derive(Clone)]
pub struct BrowserTools {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// The browser as an optional system part: where it is missing, the browser tests are
/// ignored (or fail under `MAILPORT_E2E_REQUIRE=1`, as in CI).
pub const BROWSER: SystemPart = SystemPart {
    name: "Chromium and ChromeDriver",
    install: "sudo apt-get install -y chromium chromium-driver",
    require_var: "MAILPORT_E2E_REQUIRE",
    skip_var: "MAILPORT_E2E_SKIP",
};

/// Finds Chromium and chromedriver: `MAILPORT_CHROMIUM` and `MAILPORT_CHROMEDRIVER`, else
/// PATH. `Err` says what is missing.
pub fn find_browser() -> Result<BrowserTools, String> {
    // An override that points nowhere counts as missing, not as a fallback to PATH.
    let find = |var: &str, names: &[&str]| match std::env::var_os(var) {
        Some(p) => {
            let p = PathBuf::from(p);
            if p.is_file() {
                Ok(p)
            } else {
                Err(format!(
                    "{var} points at {}, which is not a file",
                    p.display()
                ))
            }
        }
        None => on_path(names).ok_or_else(|| format!("{} is not on PATH", names[0])),
    };
    match (
        find("MAILPORT_CHROMIUM", &["chromium", "chromium-browser"]),
        find("MAILPORT_CHROMEDRIVER", &["chromedriver"]),
    ) {
        (Ok(chromium), Ok(chromedriver)) => Ok(BrowserTools {
            chromium,
            chromedriver,
        }),
        (chromium, driver) => Err([chromium.err(), driver.err()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" and ")),
    }
}

/// Mailport, the sandbox, chromedriver and a browser session, all on loopback.
pub struct World {
    pub app: String,
    pub sandbox: String,
    pub setup_link: String,
    pub browser: Client,
    pub http: reqwest::Client,
    step: usize,
    // Dropped last: the processes and the folders they use.
    _procs: Vec<Proc>,
    _dir: tempfile::TempDir,
}

impl World {
    pub async fn start(tools: &BrowserTools) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = env!("CARGO_BIN_EXE_mailport");
        let app_port = free_port();
        let sandbox_port = free_port();
        let app = format!("http://127.0.0.1:{app_port}");
        let sandbox = format!("http://127.0.0.1:{sandbox_port}");

        // The sandbox's world: the demo tenant, with our app's redirect URI registered.
        let config = SandboxConfig {
            access_token_lifetime_secs: ACCESS_TOKEN_LIFETIME_SECS,
            ..SandboxConfig::demo(vec![format!("{app}/OAuth2Callback")])
        };
        let config_path = dir.path().join("sandbox.json");
        std::fs::write(
            &config_path,
            serde_json::to_vec_pretty(&config).expect("json"),
        )
        .expect("sandbox config");
        let mut cmd = Command::new(bin);
        cmd.arg("sandbox")
            .arg("--listen")
            .arg(format!("127.0.0.1:{sandbox_port}"))
            .arg("--config")
            .arg(&config_path)
            .env("MAILPORT_LOG", "warn");
        let mut sandbox_proc = Proc::spawn("sandbox", cmd, dir.path());
        sandbox_proc.wait_for_line("listening on").await;

        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{app_port}"))
            // The sandbox (sign-in, Graph, webhook receiver) is the one host besides
            // Microsoft's that may receive secrets, tokens and mail.
            .arg("--allow-host")
            .arg(format!("127.0.0.1:{sandbox_port}"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--public-url")
            .arg(&app)
            .env("MAILPORT_LOG", "info")
            .env_remove("MAILPORT_ALLOW_HOSTS")
            .env_remove("MAILPORT_SECRET_KEY")
            .env_remove("MAILPORT_DATA_DIR");
        let mut app_proc = Proc::spawn("mailport", cmd, dir.path());
        let setup_link = app_proc.wait_for_line("/setup?token=").await;
        wait_http_ok(&format!("{app}/healthz"), "mailport serve").await;

        let driver_port = free_port();
        let profile = dir.path().join("chromium-profile");
        let mut cmd = Command::new(&tools.chromedriver);
        cmd.arg(format!("--port={driver_port}"))
            .arg("--allowed-ips=127.0.0.1")
            // Not UTC, so that the screenshots show times converted to the viewer's zone.
            .env("TZ", "Europe/Berlin");
        let driver_proc = Proc::spawn("chromedriver", cmd, dir.path());
        wait_http_ok(
            &format!("http://127.0.0.1:{driver_port}/status"),
            "chromedriver",
        )
        .await;

        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": tools.chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }
        });
        let Value::Object(caps) = caps else {
            unreachable!("a JSON object")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let browser = tokio::time::timeout(
            Duration::from_secs(60),
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{driver_port}")),
        )
        .await
        .expect("Chromium did not start within 60 s")
        .unwrap_or_else(|e| panic!("cannot start a Chromium session: {e}"));

        // A fresh set per run, so that no stale screen from an older run misleads a reviewer.
        let _ = std::fs::remove_dir_all(SCREENSHOT_DIR);
        std::fs::create_dir_all(SCREENSHOT_DIR).expect("screenshot dir");
        World {
            app,
            sandbox,
            setup_link: setup_link
                .split_whitespace()
                .find(|w| w.contains("/setup?token="))
                .expect("setup link")
                .to_string(),
            browser,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("http client"),
            step: 0,
            _procs: vec![driver_proc, app_proc, sandbox_proc],
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app)
    }

    pub async fn goto(&self, path: &str) {
        self.browser.goto(&self.url(path)).await.expect("goto");
    }

    /// Saves the current screen as `NN-name.png`.
    pub async fn shot(&mut self, name: &str) {
        self.step += 1;
        let png = self.browser.screenshot().await.expect("screenshot");
        let path = format!("{SCREENSHOT_DIR}/{:02}-{name}.png", self.step);
        std::fs::write(&path, png).expect("write screenshot");
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(el) => el,
            Err(e) => panic!(
                "no element {css} on {}: {e}\n{}",
                self.where_am_i().await,
                self.browser.source().await.unwrap_or_default()
            ),
        }
    }

    pub async fn find_all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.browser
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
    }

    pub async fn where_am_i(&self) -> String {
        self.browser
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let el = self.find(css).await;
        el.clear().await.expect("clear");
        el.send_keys(value).await.expect("type");
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    /// Clicks something that navigates (a link or a submit button) and waits until the
    /// next page has loaded, so that no later look lands on the old page.
    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.mark_page().await;
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
        self.wait_new_page().await;
    }

    /// Tags the current document; [`Self::wait_new_page`] waits for one without the tag.
    pub async fn mark_page(&self) {
        let _ = self
            .browser
            .execute("window.__e2eOldPage = true; return null;", vec![])
            .await;
    }

    pub async fn wait_new_page(&self) {
        let start = Instant::now();
        loop {
            let state = self
                .browser
                .execute(
                    "return window.__e2eOldPage === true ? 'old' : document.readyState;",
                    vec![],
                )
                .await
                .unwrap_or(Value::Null);
            if state == "complete" {
                return;
            }
            assert!(
                start.elapsed() < WAIT,
                "no new page loaded within {WAIT:?} (still {state} at {})",
                self.where_am_i().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The current value of an input.
    pub async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .unwrap_or_else(|e| panic!("value of {css}: {e}"))
            .unwrap_or_default()
    }

    /// The visible text of the page body.
    pub async fn text(&self) -> String {
        // A click may still be navigating: a body found just before the new page replaced
        // it goes stale, so look again.
        let start = Instant::now();
        loop {
            match self.find("body").await.text().await {
                Ok(text) => return text,
                Err(e) if start.elapsed() < WAIT => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot read the page at {}: {e}", self.where_am_i().await),
            }
        }
    }

    /// Waits until the page's text contains `needle`, reloading between looks when asked.
    pub async fn wait_for_text(&self, needle: &str, reload: bool) -> String {
        let start = Instant::now();
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return text;
            }
            assert!(
                start.elapsed() < WAIT,
                "{needle:?} did not appear on {} within {WAIT:?}; the page says:\n{text}",
                self.where_am_i().await
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
            if reload {
                self.browser.refresh().await.expect("reload");
            }
        }
    }

    /// The value of `selector`'s `data-status`, the stable form of a status badge.
    pub async fn badge(&self, css: &str) -> String {
        self.find(css)
            .await
            .attr("data-status")
            .await
            .expect("attr")
            .unwrap_or_default()
    }

    /// The browser session's cookie, so that downloads can be checked byte for byte.
    pub async fn session_cookie(&self) -> String {
        let c = self
            .browser
            .get_named_cookie("mailport_session")
            .await
            .expect("session cookie");
        format!("{}={}", c.name(), c.value())
    }

    pub async fn sandbox_post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.sandbox))
            .json(&body)
            .send()
            .await
            .expect("sandbox control");
        assert!(r.status().is_success(), "POST {path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    pub async fn sandbox_get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.sandbox))
            .send()
            .await
            .expect("sandbox control");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("json")
    }

    /// Walks the sandbox's sign-in pages in the browser (account picker, password, consent)
    /// until it leaves the sandbox. `accept` false presses Cancel on the consent page.
    pub async fn sign_in_at_sandbox(&mut self, user: &str, password: &str, accept: bool) {
        let start = Instant::now();
        let mut shot_taken = false;
        loop {
            let here = self.where_am_i().await;
            if here.starts_with(&self.app) {
                return;
            }
            assert!(
                start.elapsed() < WAIT,
                "stuck on the sandbox's pages at {here}:\n{}",
                self.text().await
            );
            let browser = self.browser.clone();
            let find = |css: &'static str| browser.find(Locator::Css(css));
            if let Ok(passwd) = find("input[name=passwd]").await {
                let login = find("input[name=login]").await.expect("login field");
                login.clear().await.expect("clear");
                login.send_keys(user).await.expect("type");
                passwd.send_keys(password).await.expect("type");
                self.shot("sandbox-sign-in").await;
                let button = find("form button[type=submit]")
                    .await
                    .expect("sign-in button");
                self.mark_page().await;
                button.click().await.expect("click");
                self.wait_new_page().await;
            } else if let Ok(consent) = find(if accept {
                "button[name=consent][value=accept]"
            } else {
                "button[name=consent][value=cancel]"
            })
            .await
            {
                if !shot_taken {
                    self.shot("sandbox-consent").await;
                    shot_taken = true;
                }
                self.mark_page().await;
                consent.click().await.expect("click");
                self.wait_new_page().await;
            } else if let Ok(another) = find("input[name=action][value=another]").await {
                self.shot("sandbox-pick-account").await;
                let form = another
                    .find(Locator::XPath(".."))
                    .await
                    .expect("the picker's form");
                let button = form.find(Locator::Css("button")).await.expect("button");
                self.mark_page().await;
                button.click().await.expect("click");
                self.wait_new_page().await;
            } else if let Ok(button) = find("form button[type=submit]").await {
                self.mark_page().await;
                button.click().await.expect("click");
                self.wait_new_page().await;
            } else {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `window.__xss`, which any of the payloads would set.
    pub async fn xss_flag(&self) -> Value {
        self.browser
            .execute(
                "return typeof window.__xss === 'undefined' ? null : window.__xss;",
                vec![],
            )
            .await
            .expect("execute")
    }
}
