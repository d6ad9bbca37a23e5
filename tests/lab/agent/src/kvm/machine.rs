//! The VMM's vCPU loop: runs the L2 until its next marker, completing every hypercall the
//! kernel leaves to userspace with the accelerator on the way, and counting those exits.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use papr_hcall::HcallStatus;
use spapr_tce::kvm::{handle_papr_hcall_exit, ExitAction};
use vfio_spapr::VfioSpaprContainer;

use super::program::{self, Command, Marker, EXCEPTION_MARKER, MARKER};
use super::sys::{Kvm, Vcpu, Vm};
use crate::dma::guest::Guest;
use crate::edu::Edu;

/// Seconds one `KVM_RUN` may take before the L2 counts as hung.
const WATCHDOG_SECONDS: libc::c_uint = 10;
/// Exits one command may cause before its marker (a punted hcall, then the marker).
const MAX_EXITS_PER_COMMAND: usize = 4;

static ALARMED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_alarm(_signal: libc::c_int) {
    ALARMED.store(true, Ordering::SeqCst);
}

/// Makes SIGALRM interrupt `KVM_RUN` (no `SA_RESTART`: the ioctl returns EINTR).
pub fn install_watchdog() -> io::Result<()> {
    // SAFETY: an all-zero `sigaction` is a valid "no flags, empty mask" value; the handler
    // only stores to an atomic, which is async-signal-safe.
    let ret = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut())
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A hypercall the kernel left to userspace, and what the accelerator made of it.
#[derive(Clone, Copy, Debug)]
pub struct Punt {
    /// The hcall number.
    pub nr: u64,
    /// Its r4..r12 as the exit delivered them.
    pub args: [u64; 9],
    /// How `handle_papr_hcall_exit` completed it.
    pub action: ExitAction,
}

/// One command of the L2, from its write to its marker.
#[derive(Clone, Debug)]
pub struct Step {
    /// What the marker reported.
    pub marker: Marker,
    /// Exits before the marker: hypercalls the kernel did not complete.
    pub punted: Vec<Punt>,
    /// Wall time of the `KVM_RUN`s.
    pub elapsed: Duration,
}

impl Step {
    /// The hcall was completed inside L1's kernel (only the marker exited) with H_SUCCESS.
    pub fn in_kernel_success(&self, what: &str) -> Result<(), String> {
        if !self.punted.is_empty() {
            return Err(format!(
                "{what} exited to userspace: {:x?}",
                self.punted.first()
            ));
        }
        self.success(what)
    }

    /// The L2 saw H_SUCCESS.
    pub fn success(&self, what: &str) -> Result<(), String> {
        if self.marker.status == HcallStatus::SUCCESS {
            Ok(())
        } else {
            Err(format!("{what}: L2 got {}", self.marker.status))
        }
    }

    /// Exactly one exit, of hcall `nr`, before the marker.
    pub fn punted_once(&self, nr: u64, what: &str) -> Result<Punt, String> {
        match self.punted.as_slice() {
            [punt] if punt.nr == nr => Ok(*punt),
            other => Err(format!(
                "{what}: expected one exit of hcall {nr:#x}, got {other:x?}"
            )),
        }
    }
}

/// Exits seen over a machine's life.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    /// `KVM_RUN` calls that returned an exit.
    pub runs: u64,
    /// Marker exits.
    pub markers: u64,
    /// Hypercall exits before a marker.
    pub punted: u64,
    /// Wall time of the first `KVM_RUN` (the vCPU's first entry).
    pub first_run: Duration,
    /// Wall time of all `KVM_RUN`s.
    pub busy: Duration,
}

/// One VMM: the L2's vCPU, its VM, the accelerator and the device. Field order is drop
/// order: the device goes first (its descriptor keeps the group busy), then the vCPU, the
/// accelerator with its KVM tables and VM handle, and the VM last.
pub struct Machine<'m> {
    /// The `edu` device behind the container.
    pub engine: Edu,
    vcpu: Vcpu,
    /// The accelerator and the L2's memory.
    pub guest: Guest<'m, Arc<VfioSpaprContainer>>,
    /// The VM.
    pub vm: Vm<'m>,
    _kvm: Kvm,
    next_command: u64,
    /// Why the vCPU cannot run any more, after a failed run.
    stopped: Option<String>,
    /// Exit counts so far.
    pub tally: Tally,
}

impl<'m> Machine<'m> {
    /// Assembles a machine whose vCPU is at the L2's entry state.
    pub fn new(
        kvm: Kvm,
        vm: Vm<'m>,
        vcpu: Vcpu,
        guest: Guest<'m, Arc<VfioSpaprContainer>>,
        engine: Edu,
    ) -> Self {
        Self {
            engine,
            vcpu,
            guest,
            vm,
            _kvm: kvm,
            next_command: 0,
            stopped: None,
            tally: Tally::default(),
        }
    }

    /// Has the L2 issue `nr(args)` and runs it to the following marker.
    /// After a failed run every later call fails at once.
    pub fn hcall(&mut self, nr: u64, args: [u64; 4]) -> Result<Step, String> {
        if let Some(why) = &self.stopped {
            return Err(format!("not run: the vCPU stopped earlier ({why})"));
        }
        let index = self.next_command;
        program::write_command(self.guest.mem, index, &Command { nr, args })?;
        self.next_command += 1;
        let expected = program::command_addr(index);
        let outcome = self.run_to_marker().and_then(|step| {
            if step.marker.command_addr == expected {
                Ok(step)
            } else {
                Err(format!(
                    "marker of command {index} reports command {:#x}, expected {expected:#x}",
                    step.marker.command_addr
                ))
            }
        });
        if let Err(why) = &outcome {
            self.stopped = Some(why.clone());
        }
        outcome
    }

    fn run_to_marker(&mut self) -> Result<Step, String> {
        let started = Instant::now();
        let mut punted = Vec::new();
        for _ in 0..MAX_EXITS_PER_COMMAND {
            let run_started = Instant::now();
            ALARMED.store(false, Ordering::SeqCst);
            // SAFETY: alarm() only arms a timer; the handler is installed by the part.
            unsafe { libc::alarm(WATCHDOG_SECONDS) };
            let ran = self.vcpu.run();
            // SAFETY: as above, disarming.
            unsafe { libc::alarm(0) };
            let took = run_started.elapsed();
            if self.tally.runs == 0 {
                self.tally.first_run = took;
            }
            self.tally.busy += took;
            if let Err(error) = ran {
                if error.kind() == io::ErrorKind::Interrupted && !ALARMED.load(Ordering::SeqCst) {
                    continue;
                }
                let why = if ALARMED.load(Ordering::SeqCst) {
                    format!("the L2 did not exit within {WATCHDOG_SECONDS} s")
                } else {
                    format!("KVM_RUN: {error}")
                };
                return Err(format!("{why}; {}", self.regs_text()));
            }
            self.tally.runs += 1;
            let mut exit = self.vcpu.exit();
            if !exit.is_papr_hcall() {
                let reason = exit.exit_reason();
                return Err(format!(
                    "exit reason {reason}, not a PAPR hcall; {}",
                    self.regs_text()
                ));
            }
            let nr = exit.nr();
            let args = exit.args();
            if nr == MARKER {
                // Goes back into r3 on the next KVM_RUN; the loop reloads r3 anyway.
                exit.set_ret(0);
                self.tally.markers += 1;
                return Ok(Step {
                    marker: Marker::from_args(&args),
                    punted,
                    elapsed: started.elapsed(),
                });
            }
            if (EXCEPTION_MARKER..EXCEPTION_MARKER + 0x1000).contains(&nr) {
                return Err(format!(
                    "the L2 took exception {:#x} at {:#x} (SRR1 {:#x})",
                    nr - EXCEPTION_MARKER,
                    args[0],
                    args[1]
                ));
            }
            let acc = &self.guest.acc;
            let action = handle_papr_hcall_exit(&mut exit, acc, Some(acc));
            self.tally.punted += 1;
            punted.push(Punt { nr, args, action });
            if action.needs_vmm() {
                return Err(format!("hcall {nr:#x} {args:x?}: {action:?}"));
            }
        }
        Err(format!(
            "more than {MAX_EXITS_PER_COMMAND} exits without a marker: {punted:x?}"
        ))
    }

    /// The vCPU's registers, for failure messages.
    fn regs_text(&self) -> String {
        match self.vcpu.regs() {
            Ok(r) => format!(
                "pc {:#x} msr {:#x} r3 {:#x} r4 {:#x} r30 {:#x} srr0 {:#x} srr1 {:#x}",
                r.pc, r.msr, r.gpr[3], r.gpr[4], r.gpr[30], r.srr0, r.srr1
            ),
            Err(e) => format!("KVM_GET_REGS: {e}"),
        }
    }
}
