//! `dynq roofline`: the machine's limits, measured once and then read from the cache.

use std::process::Output;

mod common;

fn roofline(cache: &std::path::Path, args: &[&str]) -> Output {
    common::dynq_command()
        .env("DYNQ_CACHE_DIR", cache)
        .arg("roofline")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_machines_limits_are_measured_once_then_read_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let first = roofline(cache.path(), &["--json", "--kernel", "scalar"]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let names: Vec<&str> = json["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["L1", "L2", "L3", "memory"]);
    for level in json["levels"].as_array().unwrap() {
        let (one, all) = (
            level["one_core_gbs"].as_f64(),
            level["all_cores_gbs"].as_f64(),
        );
        assert!(one.unwrap() > 0.0 && all.unwrap() > 0.0, "{level}");
    }
    for key in ["int8_gmacs", "f32_gfmas"] {
        assert!(json[key][0].as_f64().unwrap() > 0.0, "{key}");
    }
    assert_eq!(json["kernel"], "scalar");
    let cached: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
    assert_eq!(cached.len(), 1, "one file per CPU and kernel");
    // The handoff between cores is measured at every run (a virtual machine's host may move
    // its cores); with two cores or more it takes some time.
    let handoff = |json: &serde_json::Value| json["handoff_ns"].as_f64().unwrap();
    let cores = json["cores"].as_u64().unwrap();
    assert!(
        (handoff(&json) > 0.0) == (cores > 1) && handoff(&json) < 1e6,
        "{json}"
    );
    // The second run reads the cache: the very same figures, but for the handoff, which is
    // measured again rather than read back.
    let file = cached[0].as_ref().unwrap().path();
    let mut stale: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    stale["handoff_ns"] = 1e9.into();
    std::fs::write(&file, stale.to_string()).unwrap();
    let second = roofline(cache.path(), &["--json", "--kernel", "scalar"]);
    let mut second: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert!(
        (handoff(&second) > 0.0) == (cores > 1) && handoff(&second) < 1e6,
        "{second}"
    );
    let mut first = json;
    first["handoff_ns"] = 0.0.into();
    second["handoff_ns"] = 0.0.into();
    assert_eq!(second, first);
    // A corrupt cache is measured again, not an error.
    std::fs::write(&file, "{ not json").unwrap();
    let again = roofline(cache.path(), &["--kernel", "scalar"]);
    assert_eq!(again.status.code(), Some(0));
    let text = String::from_utf8(again.stdout).unwrap();
    assert!(
        text.contains("L2") && text.contains("int8 multiply-adds"),
        "{text}"
    );
    serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&file).unwrap()).unwrap();
}

#[test]
fn a_kernel_the_cpu_lacks_or_an_unknown_flag_is_a_usage_error() {
    let cache = tempfile::tempdir().unwrap();
    for args in [&["--kernel", "neon"][..], &["--fast"][..]] {
        let out = roofline(cache.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
}
