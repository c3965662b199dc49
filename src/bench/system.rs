//! Machine and process figures from sysinfo; the process is refreshed at most once a second.

use std::time::{Duration, Instant};

use sysinfo::{CpuRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::snapshot::SystemStats;

/// How often the process's CPU and memory figures are refreshed.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// What does not change while dynq runs: the CPU, its cores, the kernel.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Machine {
    /// CPU model name ("unknown" when the system does not say).
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// The kernel family `auto` picks on this CPU (`avx512-amx`, `avx512-vnni`, `avx2`, `scalar`); a report
    /// sets the one its runs used.
    pub kernel: String,
    /// Operating system and version.
    pub os: String,
}

impl Machine {
    /// Reads the machine's description.
    pub fn detect() -> Machine {
        let cpu = System::new()
            .map(|mut sys| {
                sys.refresh_cpu_list(CpuRefreshKind::nothing());
                sys.cpus()
                    .first()
                    .map(|c| c.brand().trim().to_string())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        Machine {
            cpu: if cpu.is_empty() {
                "unknown".into()
            } else {
                cpu
            },
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: crate::kernels::Kernel::detect().name().into(),
            os: System::long_os_version().unwrap_or_else(|_| std::env::consts::OS.into()),
        }
    }
}

/// Watches this process (CPU, memory) and the machine's CPU use.
pub struct SystemMonitor {
    system: Option<System>,
    pid: Option<Pid>,
    last_refresh: Option<Instant>,
    stats: SystemStats,
}

impl SystemMonitor {
    /// A monitor for the current process on `machine`.
    pub fn new(machine: &Machine) -> SystemMonitor {
        SystemMonitor {
            system: System::new().ok(),
            pid: sysinfo::get_current_pid().ok(),
            last_refresh: None,
            stats: SystemStats {
                cpu: machine.cpu.clone(),
                cores: machine.cores,
                kernel: machine.kernel.clone(),
                ..SystemStats::default()
            },
        }
    }

    /// The latest figures, refreshed when the last refresh is over a second old.
    pub fn stats(&mut self) -> SystemStats {
        let due = self
            .last_refresh
            .is_none_or(|t| t.elapsed() >= REFRESH_EVERY);
        if let (true, Some(system), Some(pid)) = (due, self.system.as_mut(), self.pid) {
            self.last_refresh = Some(Instant::now());
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                ProcessRefreshKind::nothing().with_cpu().with_memory(),
            );
            system.refresh_cpu_usage();
            if let Some(process) = system.process(pid) {
                self.stats.process_cpu_percent = process.cpu_usage();
                self.stats.process_memory_bytes = process.memory();
            }
            self.stats.machine_cpu_percent = system.global_cpu_usage();
        }
        self.stats.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_and_this_process_are_described() {
        let machine = Machine::detect();
        assert!(machine.cores >= 1);
        assert!(!machine.cpu.is_empty());
        let stats = SystemMonitor::new(&machine).stats();
        assert_eq!(stats.cores, machine.cores);
        assert_eq!(stats.kernel, machine.kernel);
        assert!(stats.process_memory_bytes > 0, "{stats:?}");
    }
}
