//! CPU time of this process's threads (Linux `/proc`), so a run on a shared, busy machine still
//! says what a span costs: wall-clock throughput moves with the neighbours' load, CPU per span
//! much less.

use std::collections::HashMap;

/// CPU seconds (user + system) per thread name, summed over threads of the same name.
pub fn by_thread() -> HashMap<String, f64> {
    let mut out = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: the name may hold spaces, so split after the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // Fields 14 and 15 of stat (utime, stime), counted from `state` (field 3).
        let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<u64>().ok());
        if let (Some(u), Some(s)) = (ticks(14), ticks(15)) {
            *out.entry(name).or_insert(0.0) += (u + s) as f64 / 100.0;
        }
    }
    out
}

/// CPU seconds each thread name spent between two [`by_thread`] readings; threads that ended in
/// between are not counted.
pub fn spent(before: &HashMap<String, f64>, after: &HashMap<String, f64>) -> HashMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .collect()
}
