//! Issue 15's attacks through a real mount (`-o allow_other`, mounted by root): what `nobody`
//! and a second unprivileged user (uid 4242, with and without a supplementary group) learn
//! through `/.vexfs/search` and `/.vexfs/stats` about files the kernel's permission checks
//! refuse them. Each attack is also run by root, to show the data is there to be leaked.
//!
//! The attacker is this test binary run again (`runuser -u nobody`, the same inside a user
//! namespace where it is root with every capability, or `setpriv --reuid 4242 --regid 4242`) with the test [`attacker_child`] selected and its steps in the environment:
//! it prints one `ATTACK:` line of JSON with each step's outcome. These tests need root (to
//! mount with `allow_other` and to change user); without it they fail when `REQUIRE_FUSE=1`
//! (CI) and print SKIP otherwise.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;
use std::process::Command;
use vexfs_fuse::MountOptions;

/// Who runs the attack.
#[derive(Debug, Clone, Copy)]
enum Who {
    Root,
    Nobody,
    /// `nobody` as root of a user namespace of its own (`unshare --user --map-root-user`): every
    /// capability there, none over the mount's files.
    NobodyNsRoot,
    /// uid 4242, gid 4242, these supplementary groups.
    User(&'static [u32]),
}

/// One step of an attack: a query written to `/.vexfs/search`, or a read of the stats.
#[derive(Debug, Clone)]
enum Step {
    Query(String),
    Stats,
}

type Outcome = Result<Vec<String>, (i32, String)>;

fn run_step(root: &Path, step: &Step) -> Outcome {
    match step {
        Step::Query(q) => search(root, q),
        Step::Stats => {
            let mut text = String::new();
            File::open(root.join(".vexfs/stats"))
                .and_then(|mut f| f.read_to_string(&mut text))
                .map_err(|e| (code(&e), String::new()))?;
            Ok(vec![text])
        }
    }
}

/// Runs `steps` on `root` as `who`; one outcome per step.
fn attack(who: Who, root: &Path, steps: &[Step]) -> Vec<Outcome> {
    if let Who::Root = who {
        return steps.iter().map(|s| run_step(root, s)).collect();
    }
    let encoded: Vec<serde_json::Value> = steps
        .iter()
        .map(|s| match s {
            Step::Query(q) => serde_json::json!({ "query": q }),
            Step::Stats => serde_json::json!({ "stats": true }),
        })
        .collect();
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match who {
        Who::Nobody => {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--"]);
            c
        }
        Who::NobodyNsRoot => {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--", "unshare", "--user", "--map-root-user", "--"]);
            c
        }
        Who::User(groups) => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid", "4242", "--regid", "4242"]);
            if groups.is_empty() {
                c.arg("--clear-groups");
            } else {
                let list: Vec<String> = groups.iter().map(u32::to_string).collect();
                c.args(["--groups", &list.join(",")]);
            }
            c.arg("--");
            c
        }
        Who::Root => unreachable!(),
    };
    let out = cmd
        .arg(&exe)
        .args(["--exact", "attacker_child", "--nocapture", "--test-threads=1"])
        .env("VEXFS_ATTACK_ROOT", root)
        .env(
            "VEXFS_ATTACK_STEPS",
            serde_json::Value::Array(encoded).to_string(),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("ATTACK:").map(|(_, json)| json))
        .unwrap_or_else(|| {
            panic!(
                "the attacker ({who:?}) printed no outcome: {}\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let v: Vec<serde_json::Value> = serde_json::from_str(line).unwrap();
    v.into_iter()
        .map(|o| match o.get("errno") {
            Some(e) => Err((e.as_i64().unwrap() as i32, o["text"].as_str().unwrap().to_owned())),
            None => Ok(o["ok"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_owned())
                .collect()),
        })
        .collect()
}

/// The attacker's side: does nothing unless run by [`attack`].
#[test]
fn attacker_child() {
    let (Some(root), Some(steps)) = (
        std::env::var_os("VEXFS_ATTACK_ROOT"),
        std::env::var("VEXFS_ATTACK_STEPS").ok(),
    ) else {
        return;
    };
    let steps: Vec<serde_json::Value> = serde_json::from_str(&steps).unwrap();
    let out: Vec<serde_json::Value> = steps
        .iter()
        .map(|s| {
            let step = match s.get("query") {
                Some(q) => Step::Query(q.as_str().unwrap().to_owned()),
                None => Step::Stats,
            };
            match run_step(Path::new(&root), &step) {
                Ok(lines) => serde_json::json!({ "ok": lines }),
                Err((errno, text)) => serde_json::json!({ "errno": errno, "text": text }),
            }
        })
        .collect();
    println!("ATTACK:{}", serde_json::Value::Array(out));
}

/// Mounts a fresh image with `allow_other` as root, builds the scene and runs `body`. Fails
/// (with `REQUIRE_FUSE=1`) or skips when not root.
fn with_scene(tag: &str, body: impl FnOnce(&Path)) {
    // SAFETY: a getter without arguments.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var_os("REQUIRE_FUSE").is_none_or(|v| v != "1"),
            "REQUIRE_FUSE=1 but the permission tests need root"
        );
        eprintln!("SKIP: the permission tests need root");
        return;
    }
    // One scene at a time: a test creating its image in this process while another forks an
    // attacker would lend the fresh image's locked descriptor to the child until it execs, and
    // the mount would find the image "locked by another process".
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let s = Scratch::new(tag);
    std::fs::set_permissions(&s.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let opts = MountOptions {
        allow_other: true,
        commit_secs: 0,
        ..MountOptions::default()
    };
    s.with_mount(&opts, |root| {
        build_scene(root);
        body(root)
    });
}

fn mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

fn collection(p: &Path, m: u32) {
    std::fs::create_dir(p).unwrap();
    setxattr(p, b"user.vexfs.index", b"dim=4 metric=l2", 0).unwrap();
    mode(p, m);
}

fn vfile(p: &Path, v: [f32; 4], m: u32, attrs: &[(&str, &str)]) {
    std::fs::write(p, b"data").unwrap();
    setxattr(p, b"user.vexfs.vector", &vec_bytes(&v), 0).unwrap();
    for (k, val) in attrs {
        setxattr(p, format!("user.{k}").as_bytes(), val.as_bytes(), 0).unwrap();
    }
    mode(p, m);
}

/// The private vector of `/pub/priv` (0600, root's).
const PRIV: [f32; 4] = [0.25, -1.5, 3.0, 7.0];
/// Its private salary.
const SALARY: u32 = 73_412;

/// - `/secret` (0700): a collection with `a`, `b`; a plain directory `plain`, a file `file`.
/// - `/pub` (0755 collection): `u0`..`u3` (the unit vectors, 0644), `priv` (0600, [`PRIV`],
///   `salary`, `tag=confidential`), `grp` (0640, group 5000).
/// - `/hidden` (0700): `blob`, a file outside every collection with a vector.
/// - `/team` (0750, group 5000): a collection with `t` (0644).
fn build_scene(root: &Path) {
    let secret = root.join("secret");
    collection(&secret, 0o755);
    vfile(&secret.join("a"), [1.0, 1.0, 1.0, 1.0], 0o644, &[]);
    vfile(&secret.join("b"), [2.0, 2.0, 2.0, 2.0], 0o644, &[]);
    std::fs::create_dir(secret.join("plain")).unwrap();
    std::fs::write(secret.join("file"), b"x").unwrap();
    mode(&secret, 0o700);
    let p = root.join("pub");
    collection(&p, 0o755);
    for i in 0..4 {
        let mut v = [0.0; 4];
        v[i] = 1.0;
        vfile(
            &p.join(format!("u{i}")),
            v,
            0o644,
            &[("salary", "1000"), ("tag", "public")],
        );
    }
    let salary = SALARY.to_string();
    vfile(
        &p.join("priv"),
        PRIV,
        0o600,
        &[("salary", &salary), ("tag", "confidential")],
    );
    vfile(&p.join("grp"), [0.0, 0.0, 0.0, 9.0], 0o640, &[]);
    chown(p.join("grp"), Some(0), Some(5000)).unwrap();
    let hidden = root.join("hidden");
    std::fs::create_dir(&hidden).unwrap();
    std::fs::write(hidden.join("blob"), b"x").unwrap();
    setxattr(
        &hidden.join("blob"),
        b"user.vexfs.vector",
        &vec_bytes(&[4.0, 3.0, 2.0, 1.0]),
        0,
    )
    .unwrap();
    mode(&hidden, 0o700);
    let team = root.join("team");
    collection(&team, 0o750);
    vfile(&team.join("t"), [1.0, 0.0, 0.0, 0.0], 0o644, &[]);
    chown(&team, Some(0), Some(5000)).unwrap();
}

fn q(dir: &str, target: &str, extra: &str) -> Step {
    Step::Query(format!(r#"{{"dir":"{dir}",{target},"k":100{extra}}}"#))
}

fn vecq(dir: &str, v: [f32; 4], extra: &str) -> Step {
    q(
        dir,
        &format!(r#""vector":[{},{},{},{}]"#, v[0], v[1], v[2], v[3]),
        extra,
    )
}

fn ok_paths(o: &Outcome) -> Vec<String> {
    paths(
        o.as_ref()
            .unwrap_or_else(|e| panic!("expected results, got {e:?}")),
    )
}

fn errno_of(o: &Outcome) -> i32 {
    o.as_ref().expect_err("expected an error").0
}

const ATTACKERS: [Who; 3] = [Who::Nobody, Who::User(&[]), Who::NobodyNsRoot];

#[test]
fn listing_a_private_directory_through_search() {
    with_scene("perm-list", |root| {
        let steps = [vecq("/secret", [0.0; 4], "")];
        assert_eq!(
            ok_paths(&attack(Who::Root, root, &steps)[0]),
            ["/secret/a", "/secret/b"]
        );
        for who in ATTACKERS {
            let r = &attack(who, root, &steps)[0];
            assert_eq!(errno_of(r), libc::EACCES, "{who:?}: {r:?}");
        }
        // What the kernel says to `ls`, for comparison.
        let ls = Command::new("runuser")
            .args(["-u", "nobody", "--", "ls"])
            .arg(root.join("secret"))
            .output()
            .unwrap();
        assert!(!ls.status.success());
    });
}

#[test]
fn reconstructing_a_private_vector_with_l2_queries() {
    with_scene("perm-l2", |root| {
        // Distances to 0 and to each unit vector give every coordinate: x_i = (|x|² + 1 - d_i) / 2.
        let mut steps = vec![vecq("/pub", [0.0; 4], "")];
        for i in 0..4 {
            let mut v = [0.0; 4];
            v[i] = 1.0;
            steps.push(vecq("/pub", v, ""));
        }
        let distance_of = |o: &Outcome, path: &str| -> Option<f64> {
            o.as_ref().unwrap().iter().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v["path"] == path).then(|| v["distance"].as_f64().unwrap())
            })
        };
        let reconstruct = |outs: &[Outcome]| -> Option<Vec<f64>> {
            let norm = distance_of(&outs[0], "/pub/priv")?;
            (1..5)
                .map(|i| distance_of(&outs[i], "/pub/priv").map(|d| (norm + 1.0 - d) / 2.0))
                .collect()
        };
        let by_root = reconstruct(&attack(Who::Root, root, &steps)).unwrap();
        let want: Vec<f64> = PRIV.iter().map(|&x| f64::from(x)).collect();
        assert_eq!(by_root, want);
        for who in ATTACKERS {
            let outs = attack(who, root, &steps);
            assert_eq!(reconstruct(&outs), None, "{who:?}");
            // And k stays full with what they may read: u0..u3 (grp is 0640).
            for o in &outs {
                let mut got = ok_paths(o);
                got.sort();
                assert_eq!(got, ["/pub/u0", "/pub/u1", "/pub/u2", "/pub/u3"], "{who:?}");
            }
        }
    });
}

#[test]
fn like_of_a_file_the_caller_cannot_read() {
    with_scene("perm-like", |root| {
        let steps = [
            q("/pub", r#""like":"/hidden/blob""#, ""),
            q("/pub", r#""like":"/hidden/nothing""#, ""),
            q("/pub", r#""like":"/pub/priv""#, ""),
            q("/pub", r#""like":"/secret/a""#, ""),
            q("/pub", r#""like":"/pub/u1""#, ""),
        ];
        let by_root = attack(Who::Root, root, &steps);
        assert_eq!(ok_paths(&by_root[0]).len(), 6);
        assert_eq!(errno_of(&by_root[1]), libc::ENOENT);
        for who in ATTACKERS {
            let outs = attack(who, root, &steps);
            for o in &outs[..4] {
                assert_eq!(errno_of(o), libc::EACCES, "{who:?}: {o:?}");
            }
            // A missing and an existing file behind /hidden look the same.
            assert_eq!(outs[0], outs[1], "{who:?}");
            assert_eq!(ok_paths(&outs[4])[0], "/pub/u1");
        }
    });
}

#[test]
fn filters_on_private_metadata() {
    with_scene("perm-filter", |root| {
        let filters = [
            format!("salary <= {SALARY} and salary >= 5000"),
            format!("salary = {SALARY}"),
            "salary > 5000".to_owned(),
            "@name = priv".to_owned(),
            "@name >= p and @name < q".to_owned(),
            "@size = 4 and has(tag) and tag != public".to_owned(),
            "tag = confidential".to_owned(),
            "tag >= c and tag < d".to_owned(),
            "has(salary) and not salary = 1000".to_owned(),
        ];
        let steps: Vec<Step> = filters
            .iter()
            .map(|f| vecq("/pub", [0.0; 4], &format!(r#","filter":"{f}""#)))
            .collect();
        for (f, o) in filters.iter().zip(attack(Who::Root, root, &steps)) {
            assert_eq!(ok_paths(&o), ["/pub/priv"], "root, {f}");
        }
        for who in ATTACKERS {
            for (f, o) in filters.iter().zip(attack(who, root, &steps)) {
                assert_eq!(ok_paths(&o), Vec::<String>::new(), "{who:?}, {f}");
            }
        }
        // A binary search on the salary finds nothing to converge on: every threshold answers
        // the same (the public files' 1000 only).
        let probes: Vec<Step> = [0u32, 1000, 50_000, 73_411, 73_412, 100_000]
            .iter()
            .map(|n| vecq("/pub", [0.0; 4], &format!(r#","filter":"salary <= {n}""#)))
            .collect();
        for who in ATTACKERS {
            let outs = attack(who, root, &probes);
            let counts: Vec<usize> = outs.iter().map(|o| ok_paths(o).len()).collect();
            assert_eq!(counts, [0, 4, 4, 4, 4, 4], "{who:?}");
        }
    });
}

/// Issue 18's `include`, radius and batches: the extra fields of a hit never carry what the
/// caller could not `getfattr` or `stat`, whether asked alone or in a batch.
#[test]
fn include_and_batches_reveal_only_readable_files() {
    with_scene("perm-include", |root| {
        let inc = r#","include":["metadata","vector","vector_b64","size","mtime"]"#;
        let named = r#","include":["metadata.salary","metadata.tag"]"#;
        let one = vecq("/pub", PRIV, inc);
        let Step::Query(a) = vecq("/pub", PRIV, named) else {
            unreachable!()
        };
        let Step::Query(b) = vecq("/pub", PRIV, &format!(r#","max_distance":1e9{inc}"#)) else {
            unreachable!()
        };
        let steps = [one, vecq("/pub", PRIV, named), Step::Query(format!("[{a},{b}]"))];
        let salary = SALARY.to_string();
        // As the metadata value shows it: a bare number can turn up inside an mtime's digits.
        let salary_value = format!("\"{SALARY}\"");
        let outs = attack(Who::Root, root, &steps);
        for o in &outs {
            let text = o.as_ref().unwrap().join("\n");
            assert!(
                text.contains("/pub/priv") && text.contains(&salary),
                "root: {text}"
            );
        }
        assert!(outs[0].as_ref().unwrap()[0].contains(r#""vector":[0.25,-1.5,3,7]"#));
        for who in ATTACKERS {
            for (i, o) in attack(who, root, &steps).iter().enumerate() {
                let lines = o.as_ref().unwrap_or_else(|e| panic!("{who:?} step {i}: {e:?}"));
                let text = lines.join("\n");
                assert!(
                    !text.is_empty(),
                    "{who:?} step {i}: the readable files are answered"
                );
                for secret in [
                    "/pub/priv",
                    "/pub/grp",
                    salary_value.as_str(),
                    "confidential",
                    "0.25,-1.5",
                ] {
                    assert!(!text.contains(secret), "{who:?} step {i} shows {secret}: {text}");
                }
                // What it may read, it gets in full.
                assert!(text.contains(r#""salary":"1000""#), "{who:?} step {i}: {text}");
            }
        }
        // A private collection stays EACCES inside a batch, with the query named.
        let Step::Query(s) = vecq("/secret", [0.0; 4], inc) else {
            unreachable!()
        };
        let steps = [Step::Query(format!("[{a},{s}]"))];
        for who in ATTACKERS {
            let (errno, text) = attack(who, root, &steps)[0].clone().unwrap_err();
            assert_eq!(errno, libc::EACCES, "{who:?}");
            assert!(text.contains("query 1: "), "{who:?}: {text}");
        }
    });
}

#[test]
fn errors_inside_an_unreadable_directory_are_no_oracle() {
    with_scene("perm-oracle", |root| {
        let dirs = [
            "/secret",
            "/secret/plain",
            "/secret/file",
            "/secret/nothing",
            "/secret/x/y",
        ];
        let steps: Vec<Step> = dirs.iter().map(|d| vecq(d, [0.0; 4], "")).collect();
        let by_root = attack(Who::Root, root, &steps);
        assert!(by_root[0].is_ok());
        assert_eq!(errno_of(&by_root[1]), libc::EINVAL);
        assert_eq!(errno_of(&by_root[3]), libc::ENOENT);
        for who in ATTACKERS {
            let outs = attack(who, root, &steps);
            for (d, o) in dirs.iter().zip(&outs) {
                assert_eq!(o, &outs[0], "{who:?}: {d} differs from /secret");
                assert_eq!(errno_of(o), libc::EACCES, "{who:?}: {d}");
            }
        }
    });
}

#[test]
fn stats_list_only_what_the_caller_may_list() {
    with_scene("perm-stats", |root| {
        let doc =
            |o: &Outcome| -> serde_json::Value { serde_json::from_str(&o.as_ref().unwrap()[0]).unwrap() };
        let colls = |v: &serde_json::Value| -> Vec<String> {
            v["collections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["path"].as_str().unwrap().to_owned())
                .collect()
        };
        let by_root = doc(&attack(Who::Root, root, &[Step::Stats])[0]);
        assert_eq!(colls(&by_root), ["/pub", "/secret", "/team"]);
        let pub_root = &by_root["collections"][0];
        assert_eq!(pub_root["vectors"], 6);
        assert!(pub_root["memory_bytes"].is_u64());
        for who in ATTACKERS {
            let d = doc(&attack(who, root, &[Step::Stats])[0]);
            assert_eq!(colls(&d), ["/pub"], "{who:?}");
            let c = &d["collections"][0];
            assert_eq!(c["vectors"], 4, "{who:?}");
            assert!(
                c.get("memory_bytes").is_none() && c.get("deleted").is_none(),
                "{who:?}"
            );
            // Counts cover what `ls -l` shows: /pub's six files, not the three in /secret,
            // /hidden's one and /team's one.
            assert_eq!(by_root["files"], 11);
            assert_eq!(d["files"], 6, "{who:?}");
        }
        let member = doc(&attack(Who::User(&[5000]), root, &[Step::Stats])[0]);
        assert_eq!(colls(&member), ["/pub", "/team"]);
        assert_eq!(member["collections"][0]["vectors"], 5);
    });
}

#[test]
fn supplementary_groups_grant_what_they_grant() {
    with_scene("perm-groups", |root| {
        let steps = [
            vecq("/pub", [0.0, 0.0, 0.0, 9.0], r#","filter":"@name = grp""#),
            vecq("/team", [0.0; 4], ""),
            q("/pub", r#""like":"/pub/grp""#, ""),
        ];
        let member = attack(Who::User(&[4000, 5000]), root, &steps);
        assert_eq!(ok_paths(&member[0]), ["/pub/grp"]);
        assert_eq!(ok_paths(&member[1]), ["/team/t"]);
        assert_eq!(ok_paths(&member[2])[0], "/pub/grp");
        for who in [Who::Nobody, Who::User(&[]), Who::User(&[4000])] {
            let outs = attack(who, root, &steps);
            assert_eq!(ok_paths(&outs[0]), Vec::<String>::new(), "{who:?}");
            assert_eq!(errno_of(&outs[1]), libc::EACCES, "{who:?}");
            assert_eq!(errno_of(&outs[2]), libc::EACCES, "{who:?}");
        }
    });
}

#[test]
fn the_attacker_really_runs_as_another_user() {
    with_scene("perm-who", |root| {
        // The kernel refuses the attackers what the server now refuses them too.
        for args in [
            &["runuser", "-u", "nobody", "--", "cat"][..],
            &[
                "setpriv",
                "--reuid",
                "4242",
                "--regid",
                "4242",
                "--clear-groups",
                "--",
                "cat",
            ][..],
        ] {
            let out = Command::new(args[0])
                .args(&args[1..])
                .arg(root.join("pub/priv"))
                .output()
                .unwrap();
            assert!(!out.status.success(), "{args:?}");
            let ok = Command::new(args[0])
                .args(&args[1..])
                .arg(root.join("pub/u0"))
                .output()
                .unwrap();
            assert_eq!(ok.stdout, b"data", "{args:?}");
        }
    });
}
