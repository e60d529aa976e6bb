//! Measuring a whole process: wall time, CPU time and peak RSS of one child.
//!
//! `getrusage(RUSAGE_CHILDREN)` reports the largest peak RSS of all the
//! children a process has waited for, so each measured command runs under a
//! fresh helper process (the harness re-executed with [`MEASURE_ARG`]) that
//! has exactly one child: the command.

use anyhow::{bail, Context, Result};
use nix::sys::resource::{getrusage, UsageWho};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// First argument that makes the harness act as the measuring helper.
pub const MEASURE_ARG: &str = "__measure";

/// What one run of a command cost.
#[derive(Debug, Clone)]
pub struct Run {
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// User + system CPU time.
    pub cpu: Duration,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
    /// What the command wrote on standard output.
    pub stdout: String,
    /// CPU time per thread name (sampled every 20 ms: a thread's last
    /// 20 ms may be missed).
    pub threads: Vec<(String, Duration)>,
}

/// The helper's side: runs `cmd`, samples the CPU time of each of its
/// threads from /proc every 20 ms, forwards its standard output, then prints
/// `THREAD name cpu_ns` per thread name and one line
/// `MEASURED wall_ns cpu_ns max_rss_kib`.
pub fn helper(cmd: &[OsString]) -> Result<()> {
    let Some((prog, args)) = cmd.split_first() else {
        bail!("nothing to measure")
    };
    let start = Instant::now();
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("running {prog:?}"))?;
    let mut pipe = child.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut pipe, &mut s);
        s
    });
    let mut threads: BTreeMap<u32, (String, u64)> = BTreeMap::new();
    let status = loop {
        sample_threads(child.id(), &mut threads);
        if let Some(st) = child.try_wait()? {
            break st;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = start.elapsed();
    if !status.success() {
        bail!("{prog:?} failed: {status}");
    }
    let u = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let tv = |t: nix::sys::time::TimeVal| {
        t.tv_sec() as u128 * 1_000_000_000 + t.tv_usec() as u128 * 1_000
    };
    print!("{}", reader.join().unwrap_or_default());
    let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
    for (name, ticks) in threads.into_values() {
        *by_name.entry(name).or_default() += ticks;
    }
    for (name, ticks) in by_name {
        // /proc counts in USER_HZ, 100 per second on Linux whatever the kernel's HZ.
        println!("THREAD {name} {}", u128::from(ticks) * 10_000_000);
    }
    println!(
        "MEASURED {} {} {}",
        wall.as_nanos(),
        tv(u.user_time()) + tv(u.system_time()),
        // Linux reports ru_maxrss in KiB.
        u.max_rss()
    );
    Ok(())
}

/// Records the latest user + system ticks of each thread of `pid`.
fn sample_threads(pid: u32, threads: &mut BTreeMap<u32, (String, u64)>) {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for e in dir.flatten() {
        let Ok(tid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "tid (comm) state ...": comm may hold spaces; utime and stime are
        // the 12th and 13th fields after the closing parenthesis.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let f: Vec<&str> = stat.get(close + 2..).unwrap_or("").split(' ').collect();
        let tick = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok());
        let (Some(ut), Some(st)) = (tick(11), tick(12)) else {
            continue;
        };
        threads.insert(tid, (name, ut + st));
    }
}

/// Runs `cmd` under a fresh helper process and returns what it cost.
pub fn measure(cmd: &[OsString]) -> Result<Run> {
    let me = std::env::current_exe()?;
    let out = Command::new(me)
        .arg(MEASURE_ARG)
        .args(cmd)
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("measuring {cmd:?} failed: {}", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, last) = text
        .trim_end()
        .rsplit_once('\n')
        .unwrap_or(("", text.trim_end()));
    let mut threads = Vec::new();
    let mut kept = String::new();
    for line in body.lines() {
        match line
            .strip_prefix("THREAD ")
            .and_then(|r| r.rsplit_once(' '))
        {
            Some((name, ns)) => threads.push((name.to_owned(), Duration::from_nanos(ns.parse()?))),
            None => {
                kept.push_str(line);
                kept.push('\n');
            }
        }
    }
    let f: Vec<u128> = last
        .strip_prefix("MEASURED ")
        .context("no measurement from the helper")?
        .split(' ')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [wall, cpu, rss] = f[..] else {
        bail!("bad measurement line {last:?}")
    };
    Ok(Run {
        wall: Duration::from_nanos(wall as u64),
        cpu: Duration::from_nanos(cpu as u64),
        max_rss_kib: rss as u64,
        stdout: kept,
        threads,
    })
}

/// The median of `v` (the lower middle for an even count); `v` non-empty.
pub fn median<T: Copy + Ord>(v: &[T]) -> T {
    let mut s = v.to_vec();
    s.sort_unstable();
    s[(s.len() - 1) / 2]
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_is_the_middle_value() {
        assert_eq!(median(&[5, 1, 3]), 3);
        assert_eq!(median(&[4, 1, 3, 2]), 2);
        assert_eq!(median(&[7]), 7);
    }
}

/// The medians of `repeat` runs of one command.
#[derive(Debug, Clone)]
pub struct Medians {
    /// Wall time of the run with the median wall time.
    pub wall: Duration,
    /// Median CPU time.
    pub cpu: Duration,
    /// Median peak RSS, KiB.
    pub rss_kib: u64,
    /// Per-thread CPU of the run with the median wall time.
    pub threads: Vec<(String, Duration)>,
    /// Standard output of the run with the median wall time.
    pub stdout: String,
}

/// Runs `cmd` `repeat` times (at least once), each measured by [`measure`].
///
/// # Errors
/// A run that cannot be measured or exits with a failure.
pub fn runs(cmd: &[OsString], repeat: usize) -> Result<Medians> {
    let mut r: Vec<Run> = (0..repeat.max(1))
        .map(|_| measure(cmd))
        .collect::<Result<_>>()?;
    let cpu = median(&r.iter().map(|x| x.cpu).collect::<Vec<_>>());
    let rss_kib = median(&r.iter().map(|x| x.max_rss_kib).collect::<Vec<_>>());
    r.sort_by_key(|x| x.wall);
    let mid = r.swap_remove((r.len() - 1) / 2);
    Ok(Medians {
        wall: mid.wall,
        cpu,
        rss_kib,
        threads: mid.threads,
        stdout: mid.stdout,
    })
}
