//! The deployment recipes in deploy/: no Docker engine or
//! cluster runs here, so their structure is checked instead. The compose and
//! Kubernetes files are parsed as YAML (`yaml-rust2`) and must have what the
//! deployment relies on: host networking, exactly the capture capabilities,
//! the configuration path, the log volumes, Zeek's Community ID script; the
//! configurations they ship load as virga configurations; the Dockerfile's
//! build command is the one `scripts/dev.sh build` (run by CI) runs; the
//! systemd unit has its hardening (CI also runs `systemd-analyze verify`).
//! Each check is also shown to fail on a file with its point removed.

use std::collections::BTreeSet;
use yaml_rust2::{Yaml, YamlLoader};

fn repo_file(rel: &str) -> String {
    let p = format!("{}/../{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn yaml(text: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(text).expect("valid YAML")
}

fn strs(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn ensure(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what.to_string())
    }
}

/// Loads a configuration text as virga would from a file.
fn load_config(text: &str, name: &str) -> virga_config::Config {
    let p = std::env::temp_dir().join(format!("virga-deploy-{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    let c = virga_config::load(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
    let _ = std::fs::remove_file(&p);
    c
}

/// The shipped configurations write EVE under /var/log/virga and serve
/// metrics (the health check's target).
fn check_container_config(c: &virga_config::Config) -> Result<(), String> {
    match &c.output.eve {
        virga_config::EveTarget::File(p) => ensure(
            p.starts_with("/var/log/virga/"),
            "EVE not under /var/log/virga",
        )?,
        virga_config::EveTarget::Stdout => return Err("EVE to stdout".into()),
    }
    ensure(c.metrics.listen.is_some(), "no metrics.listen")
}

fn check_compose(doc: &Yaml) -> Result<(), String> {
    let v = &doc["services"]["virga"];
    let z = &doc["services"]["zeek"];
    ensure(!v.is_badvalue(), "no virga service")?;
    ensure(!z.is_badvalue(), "no zeek service")?;
    for (name, s) in [("virga", v), ("zeek", z)] {
        ensure(
            s["network_mode"].as_str() == Some("host"),
            &format!("{name}: network_mode is not host"),
        )?;
        ensure(
            strs(&s["cap_add"]).into_iter().collect::<BTreeSet<_>>()
                == set(&["NET_RAW", "NET_ADMIN"]),
            &format!("{name}: cap_add is not NET_RAW + NET_ADMIN"),
        )?;
        ensure(
            strs(&s["cap_drop"]) == ["ALL"],
            &format!("{name}: cap_drop is not ALL"),
        )?;
        // The capture interface comes from VIRGA_IFACE, right after -i.
        let cmd = strs(&s["command"]);
        let iface = cmd
            .iter()
            .position(|a| a == "-i")
            .and_then(|i| cmd.get(i + 1));
        ensure(
            iface.is_some_and(|a| a.starts_with("${VIRGA_IFACE")),
            &format!("{name}: -i is not ${{VIRGA_IFACE}}"),
        )?;
    }
    let cmd = strs(&v["command"]);
    ensure(
        cmd.first().map(String::as_str) == Some("run"),
        "virga: not `run`",
    )?;
    ensure(
        cmd.windows(2)
            .any(|w| w[0] == "-c" && w[1] == "/etc/virga/virga.toml"),
        "virga: not -c /etc/virga/virga.toml",
    )?;
    ensure(
        v["build"]["dockerfile"].as_str() == Some("deploy/Dockerfile")
            && v["build"]["context"].as_str() == Some(".."),
        "virga: not built from deploy/Dockerfile in the repository root",
    )?;
    ensure(
        z["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("zeek/zeek:")),
        "zeek: not the official zeek/zeek image",
    )?;
    ensure(
        strs(&z["command"])
            .iter()
            .any(|a| a == "policy/protocols/conn/community-id-logging"),
        "zeek: Community ID logging not loaded",
    )?;
    // Logs on named volumes declared at the top level.
    for (s, vol, path) in [
        (v, "virga-logs", "/var/log/virga"),
        (z, "zeek-logs", "/zeek/logs"),
    ] {
        ensure(
            strs(&s["volumes"]).contains(&format!("{vol}:{path}")),
            &format!("{vol} not mounted at {path}"),
        )?;
        ensure(
            doc["volumes"]
                .as_hash()
                .is_some_and(|h| h.contains_key(&Yaml::String(vol.into()))),
            &format!("volume {vol} not declared"),
        )?;
    }
    ensure(
        z["working_dir"].as_str() == Some("/zeek/logs"),
        "zeek does not write into its log volume",
    )
}

#[test]
fn compose_file_runs_virga_and_zeek_on_the_host_interface() {
    let text = repo_file("deploy/compose.yaml");
    let docs = yaml(&text);
    assert_eq!(docs.len(), 1);
    check_compose(&docs[0]).unwrap();
    // The check fails when a point is missing.
    let broken = text.replacen("    network_mode: host", "    network_mode: bridge", 1);
    assert!(check_compose(&yaml(&broken)[0]).is_err());
    let broken = text.replace("policy/protocols/conn/community-id-logging", "local");
    assert!(check_compose(&yaml(&broken)[0]).is_err());
    // The image's own configuration.
    check_container_config(&load_config(&repo_file("deploy/container.toml"), "c.toml")).unwrap();
}

/// The uid the Dockerfile gives the `virga` user.
fn dockerfile_uid(dockerfile: &str) -> Option<i64> {
    let line = dockerfile.lines().find(|l| l.contains("useradd"))?;
    let w: Vec<&str> = line.split_whitespace().collect();
    let i = w.iter().position(|x| *x == "--uid")?;
    w.get(i + 1)?.parse().ok()
}

fn check_k8s(docs: &[Yaml], uid: i64) -> Result<(), String> {
    let of = |kind: &str| docs.iter().find(|d| d["kind"].as_str() == Some(kind));
    let cm = of("ConfigMap").ok_or("no ConfigMap")?;
    let ds = of("DaemonSet").ok_or("no DaemonSet")?;
    let ns = of("Namespace").ok_or("no Namespace")?;
    let name = ns["metadata"]["name"]
        .as_str()
        .ok_or("namespace without name")?;
    for d in [cm, ds] {
        ensure(
            d["metadata"]["namespace"].as_str() == Some(name),
            "objects in another namespace",
        )?;
    }
    let toml = cm["data"]["virga.toml"]
        .as_str()
        .ok_or("ConfigMap without virga.toml")?;
    check_container_config(&load_config(toml, "cm.toml"))?;
    let spec = &ds["spec"]["template"]["spec"];
    ensure(
        spec["hostNetwork"].as_bool() == Some(true),
        "no hostNetwork",
    )?;
    let c = spec["containers"]
        .as_vec()
        .and_then(|v| v.iter().find(|c| c["name"].as_str() == Some("virga")))
        .ok_or("no virga container")?;
    let args = strs(&c["args"]);
    ensure(
        args == ["run", "-i", "$(VIRGA_IFACE)", "-c", "/etc/virga/virga.toml"],
        "args are not run -i $(VIRGA_IFACE) -c /etc/virga/virga.toml",
    )?;
    ensure(
        c["env"]
            .as_vec()
            .is_some_and(|e| e.iter().any(|x| x["name"].as_str() == Some("VIRGA_IFACE"))),
        "no VIRGA_IFACE",
    )?;
    let sc = &c["securityContext"];
    ensure(
        strs(&sc["capabilities"]["add"])
            .into_iter()
            .collect::<BTreeSet<_>>()
            == set(&["NET_RAW", "NET_ADMIN"]),
        "capabilities are not NET_RAW + NET_ADMIN",
    )?;
    ensure(
        strs(&sc["capabilities"]["drop"]) == ["ALL"],
        "not dropping ALL",
    )?;
    ensure(
        sc["runAsNonRoot"].as_bool() == Some(true),
        "may run as root",
    )?;
    ensure(
        sc["runAsUser"].as_i64() == Some(uid),
        "runAsUser is not the image's user",
    )?;
    ensure(
        sc["readOnlyRootFilesystem"].as_bool() == Some(true),
        "writable root",
    )?;
    for r in ["cpu", "memory"] {
        ensure(
            !c["resources"]["limits"][r].is_badvalue(),
            &format!("no {r} limit"),
        )?;
    }
    // /etc/virga comes from the ConfigMap; /var/log/virga is mounted.
    let mounts = c["volumeMounts"].as_vec().ok_or("no volumeMounts")?;
    let vol_at = |path: &str| {
        mounts
            .iter()
            .find(|m| m["mountPath"].as_str() == Some(path))
            .and_then(|m| m["name"].as_str())
    };
    let cfg_vol = vol_at("/etc/virga").ok_or("/etc/virga not mounted")?;
    vol_at("/var/log/virga").ok_or("/var/log/virga not mounted")?;
    let cfg_source = spec["volumes"]
        .as_vec()
        .and_then(|v| v.iter().find(|x| x["name"].as_str() == Some(cfg_vol)))
        .ok_or("config volume missing")?;
    ensure(
        cfg_source["configMap"]["name"].as_str() == cm["metadata"]["name"].as_str(),
        "/etc/virga is not the ConfigMap",
    )?;
    ensure(
        strs(&c["livenessProbe"]["exec"]["command"])
            .starts_with(&["virga".into(), "health".into()]),
        "liveness is not `virga health`",
    )
}

#[test]
fn kubernetes_daemonset_and_configmap() {
    let text = repo_file("deploy/k8s/daemonset.yaml");
    let uid = dockerfile_uid(&repo_file("deploy/Dockerfile")).expect("useradd --uid in Dockerfile");
    let docs = yaml(&text);
    check_k8s(&docs, uid).unwrap();
    let broken = text.replace("hostNetwork: true", "hostNetwork: false");
    assert!(check_k8s(&yaml(&broken), uid).is_err());
    let broken = text.replace(
        "add: [NET_RAW, NET_ADMIN]",
        "add: [NET_RAW, NET_ADMIN, SYS_ADMIN]",
    );
    assert!(check_k8s(&yaml(&broken), uid).is_err());
    assert!(check_k8s(&docs, uid + 1).is_err());
}

/// The `RUN cargo build ...` command of the Dockerfile's build stage.
fn dockerfile_build_command(dockerfile: &str) -> Option<String> {
    dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("RUN cargo build"))
        .map(|rest| format!("cargo build{rest}").trim().to_string())
}

/// The body of a shell function `name() { ... }` in a script.
fn shell_function(script: &str, name: &str) -> Option<Vec<String>> {
    let start = script.find(&format!("\n{name}() {{\n"))?;
    let body = &script[start..];
    let end = body.find("\n}\n")?;
    Some(
        body[..end]
            .lines()
            .skip(2)
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect(),
    )
}

#[test]
fn dockerfile_builds_what_ci_builds_and_runs_unprivileged() {
    let df = repo_file("deploy/Dockerfile");
    let dev = repo_file("scripts/dev.sh");
    let ci = repo_file(".ci/run");
    let cmd = dockerfile_build_command(&df).expect("RUN cargo build in deploy/Dockerfile");
    // scripts/dev.sh build runs exactly that command, and CI runs it (via
    // deploy-check, which starts with `build`).
    assert_eq!(shell_function(&dev, "build"), Some(vec![cmd.clone()]));
    let check = shell_function(&dev, "deploy_check").expect("deploy_check in dev.sh");
    assert_eq!(check.first().map(String::as_str), Some("build"));
    assert!(ci
        .lines()
        .any(|l| l.trim() == "scripts/dev.sh deploy-check"));
    // Multi-stage: a Rust builder, then Debian slim with libpcap only.
    let froms: Vec<&str> = df.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert!(froms[0].starts_with("FROM rust:") && froms[0].ends_with(" AS build"));
    assert_eq!(froms[1], "FROM debian:bookworm-slim");
    let runtime = &df[df.find("FROM debian:bookworm-slim").unwrap()..];
    let installs: Vec<&str> = runtime
        .lines()
        .filter_map(|l| l.split("--no-install-recommends").nth(1))
        .flat_map(str::split_whitespace)
        .filter(|w| *w != "\\")
        .collect();
    // libcap2-bin only sets the file capabilities and is purged after.
    assert_eq!(installs, ["libpcap0.8", "libcap2-bin"]);
    assert!(runtime.contains("apt-get purge -y libcap2-bin"));
    assert!(runtime.contains("setcap cap_net_raw,cap_net_admin=ep /usr/local/bin/virga"));
    assert!(runtime.lines().any(|l| l == "USER virga:virga"));
    assert!(runtime.contains("COPY deploy/container.toml /etc/virga/virga.toml"));
    assert!(runtime.contains("install -d -o virga -g virga -m 0750 /var/log/virga"));
    let health = runtime
        .lines()
        .find(|l| l.trim_start().starts_with("CMD [\"virga\", \"health\""))
        .expect("HEALTHCHECK through virga health");
    assert!(health.contains("/etc/virga/virga.toml"));
    // The extraction can fail: a Dockerfile with another build command.
    assert_ne!(
        dockerfile_build_command(&df.replace("--locked ", "")),
        Some(cmd)
    );
}

/// `KEY=VALUE` lines of a unit's section.
fn unit_values(unit: &str, section: &str, key: &str) -> Vec<String> {
    let mut cur = String::new();
    let mut out = Vec::new();
    for l in unit.lines().map(str::trim) {
        if l.starts_with('[') {
            cur = l.to_string();
        } else if cur == format!("[{section}]") {
            if let Some(v) = l.strip_prefix(&format!("{key}=")) {
                out.push(v.to_string());
            }
        }
    }
    out
}

#[test]
fn systemd_unit_is_hardened_and_checks_its_config() {
    let unit = repo_file("deploy/virga.service");
    let one = |k: &str| {
        let v = unit_values(&unit, "Service", k);
        assert_eq!(v.len(), 1, "{k}: {v:?}");
        v[0].clone()
    };
    let words = |k: &str| {
        one(k)
            .split_whitespace()
            .map(str::to_string)
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        one("ExecStartPre"),
        "/usr/local/bin/virga check-config /etc/virga/virga.toml"
    );
    assert!(one("ExecStart")
        .starts_with("/usr/local/bin/virga run -i ${VIRGA_IFACE} -c /etc/virga/virga.toml"));
    assert_eq!(one("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(
        words("AmbientCapabilities"),
        set(&["CAP_NET_RAW", "CAP_NET_ADMIN"])
    );
    assert_eq!(
        words("CapabilityBoundingSet"),
        set(&["CAP_NET_RAW", "CAP_NET_ADMIN"])
    );
    assert_eq!(
        words("RestrictAddressFamilies"),
        set(&["AF_PACKET", "AF_UNIX", "AF_INET", "AF_INET6"])
    );
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("LogsDirectory", "virga"),
        ("ConfigurationDirectory", "virga"),
        ("WorkingDirectory", "/var/log/virga"),
        ("RestartPreventExitStatus", "2"),
    ] {
        assert_eq!(one(k), v, "{k}");
    }
    // Not root: the unit names a user.
    assert_eq!(one("User"), "virga");
}

/// Redis beside virga and Zeek (`deploy/compose.redis.yaml` over
/// `compose.yaml`): a Redis service on the host network, virga running with
/// `deploy/redis/virga.toml`, whose EVE output and shared prevalence both
/// point at that Redis.
fn check_compose_redis(doc: &Yaml, cfg: &virga_config::Config) -> Result<(), String> {
    let r = &doc["services"]["redis"];
    ensure(
        r["image"].as_str().is_some_and(|i| i.starts_with("redis:")),
        "no redis service from the redis image",
    )?;
    ensure(
        r["network_mode"].as_str() == Some("host"),
        "redis: network_mode is not host",
    )?;
    let cmd = strs(&r["command"]);
    let port = cmd
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| cmd.get(i + 1))
        .ok_or("redis: no --port")?;
    let v = &doc["services"]["virga"];
    ensure(
        strs(&v["volumes"]).contains(&"./redis/virga.toml:/etc/virga/virga.toml:ro".to_string()),
        "virga: deploy/redis/virga.toml not mounted as its configuration",
    )?;
    ensure(
        strs(&v["depends_on"]) == ["redis"],
        "virga: does not depend on redis",
    )?;
    let out = cfg.output.redis.as_ref().ok_or("no [output.redis]")?;
    let at = format!("127.0.0.1:{port}/");
    ensure(
        out.url.contains(&at),
        "output.redis.url is not the redis service",
    )?;
    ensure(
        cfg.detect
            .prevalence
            .redis_url
            .as_ref()
            .is_some_and(|u| u.contains(&at)),
        "detect.prevalence.redis_url is not the redis service",
    )?;
    check_container_config(cfg)
}

#[test]
fn compose_redis_adds_redis_beside_virga_and_zeek() {
    let text = repo_file("deploy/compose.redis.yaml");
    let cfg = load_config(&repo_file("deploy/redis/virga.toml"), "r.toml");
    check_compose_redis(&yaml(&text)[0], &cfg).unwrap();
    let broken = text.replace("\"--port\", \"6379\"", "\"--port\", \"6380\"");
    assert!(check_compose_redis(&yaml(&broken)[0], &cfg).is_err());
    let broken = text.replace("./redis/virga.toml:", "./virga.toml:");
    assert!(check_compose_redis(&yaml(&broken)[0], &cfg).is_err());
    // The base file stays valid on its own.
    check_compose(&yaml(&repo_file("deploy/compose.yaml"))[0]).unwrap();
}

/// Vector's snippet reads what the shipped configuration writes: a Redis
/// source on the same URL and key, the list popped from the tail (virga
/// pushes with LPUSH), JSON decoded, and every sink and transform fed by a
/// component that exists.
fn check_vector(v: &toml::Value, cfg: &virga_config::Config) -> Result<(), String> {
    let out = cfg.output.redis.as_ref().ok_or("no [output.redis]")?;
    let sources = v["sources"].as_table().ok_or("no sources")?;
    let src = sources
        .values()
        .find(|s| s["type"].as_str() == Some("redis"))
        .ok_or("no redis source")?;
    ensure(src["url"].as_str() == Some(out.url.as_str()), "url differs")?;
    ensure(src["key"].as_str() == Some(out.key.as_str()), "key differs")?;
    ensure(src["data_type"].as_str() == Some("list"), "not a list")?;
    let method = match out.mode {
        virga_config::RedisMode::List => "rpop",
        _ => "lpop",
    };
    ensure(
        src["list"]["method"].as_str() == Some(method),
        &format!("list.method is not {method}"),
    )?;
    ensure(
        src["decoding"]["codec"].as_str() == Some("json"),
        "not decoded as JSON",
    )?;
    let mut known: BTreeSet<&str> = sources.keys().map(String::as_str).collect();
    for section in ["transforms", "sinks"] {
        let Some(t) = v.get(section).and_then(toml::Value::as_table) else {
            continue;
        };
        for (name, c) in t {
            let inputs = c["inputs"].as_array().ok_or(format!("{name}: no inputs"))?;
            for i in inputs {
                let i = i.as_str().unwrap_or_default();
                ensure(known.contains(i), &format!("{name}: unknown input {i}"))?;
            }
            known.insert(name);
        }
    }
    ensure(v.get("sinks").is_some(), "no sink")
}

#[test]
fn vector_snippet_reads_the_shipped_redis_output() {
    let text = repo_file("deploy/redis/vector.toml");
    let cfg = load_config(&repo_file("deploy/redis/virga.toml"), "r.toml");
    let v: toml::Value = toml::from_str(&text).expect("vector.toml is TOML");
    check_vector(&v, &cfg).unwrap();
    for (from, to) in [
        ("key = \"virga\"", "key = \"eve\""),
        ("list.method = \"rpop\"", "list.method = \"lpop\""),
        ("inputs = [\"virga_alerts\"]", "inputs = [\"nothing\"]"),
    ] {
        let broken: toml::Value = toml::from_str(&text.replace(from, to)).unwrap();
        assert!(check_vector(&broken, &cfg).is_err(), "{to}");
    }
}

/// Logstash's pipeline language has no parser here: a structural check.
/// Braces balance (outside strings and comments), the three sections are
/// there, and the redis input reads the shipped list and key as JSON.
fn check_logstash(text: &str, cfg: &virga_config::Config) -> Result<(), String> {
    let out = cfg.output.redis.as_ref().ok_or("no [output.redis]")?;
    let code: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut depth = 0i32;
    let mut in_str = false;
    for c in code.chars() {
        match c {
            '"' => in_str = !in_str,
            '{' if !in_str => depth += 1,
            '}' if !in_str => {
                depth -= 1;
                ensure(depth >= 0, "unbalanced }")?;
            }
            _ => {}
        }
    }
    ensure(depth == 0 && !in_str, "unbalanced braces or quotes")?;
    let words: Vec<&str> = code.split_whitespace().collect();
    for section in ["input", "filter", "output"] {
        ensure(
            words.windows(2).any(|w| w == [section, "{"]),
            &format!("no {section} section"),
        )?;
    }
    let setting = |k: &str| {
        words
            .windows(3)
            .find(|w| w[0] == k && w[1] == "=>")
            .map(|w| w[2].trim_matches('"').to_string())
    };
    ensure(
        words.windows(2).any(|w| w == ["redis", "{"]),
        "no redis input",
    )?;
    ensure(
        setting("data_type").as_deref() == Some("list"),
        "not a list",
    )?;
    ensure(
        setting("key").as_deref() == Some(out.key.as_str()),
        "key differs",
    )?;
    ensure(setting("codec").as_deref() == Some("json"), "not JSON")?;
    ensure(
        out.url.contains(&format!(
            "{}:{}",
            setting("host").unwrap_or_default(),
            setting("port").unwrap_or_default()
        )),
        "host and port differ from the output's URL",
    )
}

#[test]
fn logstash_snippet_reads_the_shipped_redis_output() {
    let text = repo_file("deploy/redis/logstash.conf");
    let cfg = load_config(&repo_file("deploy/redis/virga.toml"), "r.toml");
    check_logstash(&text, &cfg).unwrap();
    for (from, to) in [
        ("key => \"virga\"", "key => \"suricata\""),
        ("port => 6379", "port => 6380"),
        ("codec => \"json\"\n    type", "type"),
        ("\n}\n\nfilter", "\n\nfilter"),
    ] {
        assert!(
            check_logstash(&text.replacen(from, to, 1), &cfg).is_err(),
            "{to}"
        );
    }
}
