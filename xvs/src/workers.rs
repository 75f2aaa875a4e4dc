//! Threads that run until one shared stop flag is set (the poll loops, the health checks).
//!
//! Invariant: [`Workers::stop`] sets the flag and returns only when every thread has
//! ended; dropping a [`Workers`] does the same, so no thread outlives its owner. A thread
//! must look at the flag often enough for that to be quick.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Threads sharing one stop flag.
#[derive(Debug, Default)]
pub struct Workers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Start a thread named `name` running `body`, which is given the stop flag.
    pub fn spawn(&mut self, name: String, body: impl FnOnce(&AtomicBool) + Send + 'static) -> std::io::Result<()> {
        let stop = self.stop.clone();
        let thread = std::thread::Builder::new().name(name).spawn(move || body(&stop))?;
        self.threads.push(thread);
        Ok(())
    }

    /// Whether a thread has ended (before `stop`: it returned early, or panicked).
    pub fn any_finished(&self) -> bool {
        self.threads.iter().any(|t| t.is_finished())
    }

    /// Set the stop flag and wait for every thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[test]
    fn stop_and_drop_end_every_thread() {
        let ended = Arc::new(AtomicUsize::new(0));
        let mut w = Workers::default();
        for i in 0..3 {
            let ended = ended.clone();
            w.spawn(format!("w{i}"), move |stop| {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                ended.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        }
        assert!(!w.any_finished());
        w.stop();
        assert_eq!(ended.load(Ordering::Relaxed), 3);

        let mut w = Workers::default();
        let e = ended.clone();
        w.spawn("w".into(), move |stop| {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
            }
            e.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        drop(w);
        assert_eq!(ended.load(Ordering::Relaxed), 4);
    }
}
