//! Progress display: spinners per artifact on a terminal, silence in CI and pipes and with --json.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub struct Progress {
    multi: Option<MultiProgress>,
}

pub struct Job {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Enabled only when stderr is a terminal, CI is not set and the user did not ask for quiet/json.
    pub fn new(quiet: bool) -> Progress {
        let enabled = !quiet && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        Progress {
            multi: enabled.then(MultiProgress::new),
        }
    }
    pub fn job(&self, name: &str) -> Job {
        let Some(m) = &self.multi else {
            return Job { bar: None };
        };
        let bar = m.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Job { bar: Some(bar) }
    }
}

impl Job {
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
