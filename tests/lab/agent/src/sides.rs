//! The implementations the conformance suite compares.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

use vfio_spapr::model::{ModelContainer, PlatformProfile};
use vfio_spapr::{SpaprTceIommu, VfioSpaprContainer};

use crate::arena::Arena;
use crate::conformance::scenario::{execute, Outcome, Scenario};
use crate::conformance::{Side, KERNEL};

/// The real kernel: a `VfioSpaprContainer` with the guest's VFIO group, in a child process
/// per scenario. A fresh process matters: pre-registered regions belong to the process, and
/// a region can outlive every container (found by this suite: `unregister-while-mapped`).
pub struct Kernel {
    /// The IOMMU group of the device bound to vfio-pci.
    pub group: u32,
}

impl Side for Kernel {
    fn name(&self) -> &'static str {
        KERNEL
    }

    fn run(&self, scenario: &Scenario, base: u64) -> Result<Vec<Outcome>, String> {
        let group = self.group;
        let text = in_child(|| {
            let container = VfioSpaprContainer::open().map_err(|e| e.to_string())?;
            container.add_group(group).map_err(|e| e.to_string())?;
            let iommu: &dyn SpaprTceIommu = &container;
            Ok(execute(iommu, base, &scenario.steps)
                .iter()
                .map(|o| o.encode() + "\n")
                .collect())
        })?;
        text.lines()
            .map(|line| Outcome::decode(line).ok_or_else(|| format!("bad outcome line {line:?}")))
            .collect()
    }
}

/// The reference model with the lab host's profile (`PlatformProfile::pseries_nested`): a new
/// `ModelContainer` (in a new simulated process) per scenario. Its memory is what the model
/// assumes by default: host-page (4 KiB) anonymous pages, like the arena.
pub struct Model;

impl Side for Model {
    fn name(&self) -> &'static str {
        "model"
    }

    fn run(&self, scenario: &Scenario, base: u64) -> Result<Vec<Outcome>, String> {
        let model = ModelContainer::new(PlatformProfile::pseries_nested());
        Ok(execute(&model, base, &scenario.steps))
    }
}

/// Runs `work` in a forked child (the agent is single-threaded) and returns the text it
/// produced, or its error. The child inherits the arena at the same addresses.
fn in_child(work: impl FnOnce() -> Result<String, String>) -> Result<String, String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 returned two fresh descriptors that nothing else owns.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // Nothing buffered may be written twice (once per process).
    let _ = std::io::stdout().flush();
    // SAFETY: the agent has one thread, so the child may run arbitrary code after fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(read_end);
        let (status, text) = match work() {
            Ok(text) => (0, text),
            Err(e) => (1, e),
        };
        let mut pipe = std::fs::File::from(write_end);
        let code = if pipe.write_all(text.as_bytes()).is_ok() {
            status
        } else {
            2
        };
        // SAFETY: ends the child without running the parent's exit handlers or destructors
        // (the parent still owns them).
        unsafe { libc::_exit(code) };
    }
    drop(write_end);
    let mut text = String::new();
    let read = std::fs::File::from(read_end).read_to_string(&mut text);
    let mut status = 0;
    // SAFETY: waits for the child forked above; `status` is a valid out pointer.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    if waited != pid {
        return Err(format!("waitpid: {}", std::io::Error::last_os_error()));
    }
    read.map_err(|e| format!("reading the child's outcomes: {e}"))?;
    match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
        (true, 0) => Ok(text),
        (true, 1) => Err(text),
        _ => Err(format!("child ended with wait status {status:#x}")),
    }
}

/// Every side, the kernel first (the others are compared with it).
pub fn all(group: u32, _arena: &Arena) -> Vec<Box<dyn Side>> {
    vec![Box::new(Kernel { group }), Box::new(Model)]
}

#[cfg(test)]
mod tests {
    use super::in_child;

    #[test]
    fn child_text_and_errors_reach_the_parent() {
        assert_eq!(
            in_child(|| Ok("ok\nerr 16\n".into())),
            Ok("ok\nerr 16\n".into())
        );
        assert_eq!(in_child(|| Err("no group".into())), Err("no group".into()));
    }

    #[test]
    fn child_state_does_not_leak_into_the_parent() {
        let mut touched = false;
        let _ = in_child(|| {
            touched = true;
            Ok(String::new())
        });
        assert!(!touched, "the closure ran in the parent");
    }
}
