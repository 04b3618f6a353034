//! Terminal output: where messages go, whether they are coloured, whether bars are drawn.
//!
//! Data a command was asked for goes to stdout; everything else (status, warnings, errors,
//! progress) goes to stderr, so `$(pyenvx python find 3.12)` captures only the path.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use console::Style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{ColorChoice, GlobalArgs};
use crate::reporter::Reporter;
use crate::settings::env_flag;

/// How this run talks to the terminal.
#[derive(Debug, Clone)]
pub struct Printer {
    pub quiet: bool,
    pub verbose: u8,
    pub color: bool,
    pub progress: bool,
}

impl Printer {
    pub fn from_args(args: &GlobalArgs) -> Self {
        let stderr_tty = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let force_color = std::env::var_os("FORCE_COLOR").is_some_and(|v| !v.is_empty());
        let color = match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !no_color && (force_color || stderr_tty),
        };
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(color);
        let progress =
            stderr_tty && !args.quiet && !args.no_progress && !env_flag("PYENVX_NO_PROGRESS");
        Self {
            quiet: args.quiet,
            verbose: args.verbose,
            color,
            progress,
        }
    }

    /// A status line on stderr, unless quiet.
    pub fn info(&self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", message.as_ref());
        }
    }

    /// A success line (green mark) on stderr, unless quiet.
    pub fn success(&self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!(
                "{} {}",
                Style::new().green().bold().apply_to("✓"),
                message.as_ref()
            );
        }
    }

    pub fn warn(&self, message: impl AsRef<str>) {
        eprintln!(
            "{}: {}",
            Style::new().yellow().bold().apply_to("warning"),
            message.as_ref()
        );
    }

    /// Render an error chain: `error:`, `Caused by:` lines, then the hint.
    pub fn error(&self, err: &anyhow::Error) {
        eprintln!("{}: {}", Style::new().red().bold().apply_to("error"), err);
        for cause in err.chain().skip(1) {
            eprintln!("  {}: {}", Style::new().dim().apply_to("Caused by"), cause);
        }
        if let Some(hint) = crate::error::find_hint(err) {
            eprintln!("{}: {}", Style::new().cyan().bold().apply_to("hint"), hint);
        }
    }

    /// Data on stdout. A reader that went away (`pyenvx python list | head`) ends the process
    /// quietly, as it would a C tool killed by SIGPIPE: there is nobody left to tell.
    pub fn data(&self, line: impl AsRef<str>) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, "{}", line.as_ref()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(crate::error::exit::OK);
            }
            // Any other failure to write (a full disk behind a redirect) is worth a line.
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(crate::error::exit::FAILURE);
        }
    }

    /// Paths and literals, cyan when colour is on.
    pub fn code(&self, text: impl std::fmt::Display) -> String {
        Style::new().cyan().apply_to(text).to_string()
    }

    pub fn dim(&self, text: impl std::fmt::Display) -> String {
        Style::new().dim().apply_to(text).to_string()
    }

    /// A reporter that draws bars if this printer allows them.
    pub fn reporter(&self) -> CliReporter {
        CliReporter::new(self.clone())
    }
}

/// indicatif bars for downloads when on a terminal; otherwise nothing, and commands print
/// one summary line per result instead.
pub struct CliReporter {
    printer: Printer,
    multi: MultiProgress,
    bars: Mutex<Vec<ProgressBar>>,
    /// Warnings said already: a step that checks again what an earlier one checked (init's
    /// sync after its resolution) must not say it twice.
    warned: Mutex<Vec<String>>,
}

impl CliReporter {
    fn new(printer: Printer) -> Self {
        let target = if printer.progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            printer,
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(Vec::new()),
            warned: Mutex::new(Vec::new()),
        }
    }

    /// Print a line without tearing the bars.
    pub fn println(&self, line: &str) {
        if self.printer.progress {
            let _ = self.multi.println(line);
        } else if !self.printer.quiet {
            eprintln!("{line}");
        }
    }
}

impl Reporter for CliReporter {
    fn download_start(&self, name: &str, total: Option<u64>) -> usize {
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{msg:.dim} {wide_bar:.green/dim} {decimal_bytes:>9}/{decimal_total_bytes:9} {decimal_bytes_per_sec:>11}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("━╸ "),
            ),
            None => ProgressBar::new_spinner(),
        };
        let bar = self.multi.add(bar.with_message(name.to_string()));
        bar.enable_steady_tick(Duration::from_millis(120));
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        bars.push(bar);
        bars.len() - 1
    }

    fn download_progress(&self, id: usize, bytes: u64) {
        if let Some(bar) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            bar.inc(bytes);
        }
    }

    fn download_done(&self, id: usize) {
        if let Some(bar) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            bar.finish_and_clear();
        }
    }

    fn waiting_for_lock(&self, what: &str) {
        self.println(&format!("waiting: {what}"));
    }

    fn warn(&self, message: &str) {
        {
            let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
            if warned.iter().any(|w| w == message) {
                return;
            }
            warned.push(message.to_string());
        }
        self.println(&format!(
            "{}: {message}",
            Style::new().yellow().bold().apply_to("warning")
        ));
    }

    fn detail(&self, message: &str) {
        if self.printer.verbose > 0 {
            self.println(
                &Style::new()
                    .dim()
                    .apply_to(format!("· {message}"))
                    .to_string(),
            );
        }
    }
}

/// `1.2 GiB`, `35.0 MiB`, `812 KiB`.
pub fn human_size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KIB * KIB * KIB {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    } else if b >= KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}
