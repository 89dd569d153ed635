//! The two kinds of failure and their exit codes: bad input (2) and a failed build (1).

use std::fmt;

use crate::manifest::Diagnostic;
use crate::plan::PlanError;

#[derive(Debug)]
pub enum AppError {
    /// The manifest is wrong: located diagnostic.
    Manifest(Box<Diagnostic>),
    /// A payload or input file is unacceptable.
    Plan(PlanError),
    /// Bad arguments or other bad input.
    Input(String),
    /// The build itself failed (I/O, a writer error, a failed verification).
    Build(String),
    /// A format writer's error, with its source chain; `input` says whether the plan (the
    /// manifest, the payload or a configured key) must change (exit 2) or the build failed
    /// (exit 1). Each format's descriptor in `src/formats/` decides which of its errors are
    /// input errors.
    Writer {
        format: &'static str,
        input: bool,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl AppError {
    /// The one mapping of failures to exit codes (documented in the README): 1 for a failed
    /// build, 2 for bad input.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Build(_) | AppError::Writer { input: false, .. } => 1,
            _ => 2,
        }
    }
    pub fn writer(
        format: &'static str,
        input: bool,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> AppError {
        AppError::Writer {
            format,
            input,
            source: Box::new(source),
        }
    }
    /// The message of a writer error: its own text, then each cause its text does not already
    /// include.
    fn chain(source: &(dyn std::error::Error + 'static)) -> String {
        let mut text = source.to_string();
        let mut cause = source.source();
        while let Some(c) = cause {
            let c_text = c.to_string();
            if !text.contains(&c_text) {
                text.push_str(&format!("\n  caused by: {c_text}"));
            }
            cause = c.source();
        }
        text
    }
    pub fn build(e: impl fmt::Display) -> AppError {
        AppError::Build(e.to_string())
    }
    pub fn render(&self, color: bool) -> String {
        match self {
            AppError::Manifest(d) => d.render(color),
            AppError::Plan(p) => format!("error: {p}"),
            AppError::Input(m) => format!("error: {m}"),
            AppError::Build(m) => format!("error: {m}"),
            AppError::Writer { source, .. } => format!("error: {}", Self::chain(source.as_ref())),
        }
    }
    pub fn to_json(&self) -> serde_json::Value {
        let kind = match self {
            AppError::Manifest(_) => "manifest",
            AppError::Plan(_) => "payload",
            AppError::Input(_) => "input",
            AppError::Build(_) => "build",
            AppError::Writer { input: true, .. } => "input",
            AppError::Writer { input: false, .. } => "build",
        };
        let mut v = serde_json::json!({ "ok": false, "kind": kind, "exit_code": self.exit_code() });
        match self {
            AppError::Manifest(d) => v["error"] = d.to_json(),
            AppError::Plan(p) => {
                v["error"] = serde_json::json!({ "file": p.path.display().to_string(), "message": p.message, "help": p.help })
            }
            AppError::Input(m) | AppError::Build(m) => {
                v["error"] = serde_json::json!({ "message": m })
            }
            AppError::Writer { format, source, .. } => {
                v["error"] =
                    serde_json::json!({ "format": format, "message": Self::chain(source.as_ref()) })
            }
        }
        v
    }
}

impl From<Box<Diagnostic>> for AppError {
    fn from(d: Box<Diagnostic>) -> Self {
        AppError::Manifest(d)
    }
}

impl From<PlanError> for AppError {
    fn from(p: PlanError) -> Self {
        AppError::Plan(p)
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        AppError::Build(e.to_string())
    }
}
