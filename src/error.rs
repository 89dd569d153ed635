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
}

impl AppError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Build(_) => 1,
            _ => 2,
        }
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
        }
    }
    pub fn to_json(&self) -> serde_json::Value {
        let kind = match self {
            AppError::Manifest(_) => "manifest",
            AppError::Plan(_) => "payload",
            AppError::Input(_) => "input",
            AppError::Build(_) => "build",
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
