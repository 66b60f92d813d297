//! Starting and stopping processes under test: the agent (a copy of the
//! built binary, so a rebuild during the run changes nothing) with its own
//! configuration and state directory, and the echo server.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A child process that is stopped when dropped.
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
    /// Its pid.
    pub pid: u32,
}

impl Proc {
    fn spawn(what: &'static str, mut cmd: Command, log: &Path) -> Result<Self, String> {
        let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        // Release builds abort on panic, skipping `Drop`: the kernel stops
        // the child when the bench goes, so no agent is left consuming.
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("start {what}: {e}"))?;
        Ok(Proc {
            pid: child.id(),
            child: Some(child),
        })
    }

    /// True while the process has not exited.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// SIGTERM, then SIGKILL after `grace`. Returns the exit status text.
    pub fn stop(&mut self, grace: Duration) -> String {
        let Some(mut child) = self.child.take() else {
            return "not running".into();
        };
        let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        loop {
            match child.try_wait() {
                Ok(Some(st)) => return st.to_string(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    return match child.wait() {
                        Ok(st) => format!("{st} (killed after {grace:?})"),
                        Err(e) => e.to_string(),
                    };
                }
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop(Duration::from_secs(5));
        }
    }
}

/// Where one run keeps its files.
#[derive(Debug)]
pub struct Workdir {
    /// The directory (`/tmp/guestagent-bench-<tag>`).
    pub path: PathBuf,
    /// Keep it after the run.
    pub keep: bool,
}

impl Workdir {
    /// Creates `/tmp/guestagent-bench-<tag>`.
    pub fn create(tag: &str, keep: bool) -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("guestagent-bench-{tag}"));
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Workdir { path, keep })
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The agent's identity in this run.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// `guest_id`.
    pub guest_id: String,
    /// `amqp.conductor_topic`: the bench's stand-in conductor.
    pub conductor_topic: String,
    /// `log.level`.
    pub log_level: String,
    /// `amqp.prefetch`.
    pub prefetch: u16,
    /// mysqld's socket.
    pub socket: String,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl AgentSpec {
    /// The queues the agent consumes.
    pub fn queues(&self) -> [String; 2] {
        let topic = format!("guestagent.{}", self.guest_id);
        let server = format!("{topic}.{}", self.guest_id);
        [topic, server]
    }
}

/// Copies `binary` into `dir`, writes a configuration and starts
/// `guestagent run`. The broker URL is the agent's default (RabbitMQ's local
/// guest account), so the file holds no secret.
pub fn start_agent(binary: &Path, dir: &Workdir, spec: &AgentSpec) -> Result<Proc, String> {
    let exe = dir.path.join("guestagent");
    std::fs::copy(binary, &exe).map_err(|e| format!("copy {}: {e}", binary.display()))?;
    let state = dir.path.join("state");
    let config = format!(
        "guest_id = \"{}\"\n\n[amqp]\nconductor_topic = \"{}\"\nprefetch = {}\n\n\
         [mysql]\nsocket = \"{}\"\n\n[state]\ndir = \"{}\"\n\n[log]\nlevel = \"{}\"\n",
        spec.guest_id,
        spec.conductor_topic,
        spec.prefetch,
        spec.socket,
        state.display(),
        spec.log_level
    );
    let cfg = dir.path.join("guestagent.toml");
    std::fs::write(&cfg, config).map_err(|e| format!("{}: {e}", cfg.display()))?;
    let mut cmd = Command::new(&exe);
    cmd.arg("run").arg("--config").arg(&cfg);
    // The agent's own logging rules apply, not an override from the caller.
    cmd.env_remove("GUESTAGENT_LOG");
    cmd.env_remove("JOURNAL_STREAM");
    cmd.envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Proc::spawn("agent", cmd, &dir.path.join("agent.log"))
}

/// Starts this program's echo server.
pub fn start_echo(dir: &Workdir, url: &str, exchange: &str, queue: &str) -> Result<Proc, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(me);
    cmd.arg("echo-server")
        .arg("--url")
        .arg(url)
        .arg("--exchange")
        .arg(exchange)
        .arg("--queue")
        .arg(queue);
    Proc::spawn("echo server", cmd, &dir.path.join("echo.log"))
}
