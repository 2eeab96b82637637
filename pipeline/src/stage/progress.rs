//! The one progress-bar style of the stages: `STAGE [elapsed] bar pos/len
//! UNIT (rate, eta) message`, drawn on stderr, hidden with `--quiet`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar for `stage`, counting `unit` (length set later by the stage).
pub fn bar(stage: &str, unit: &str, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {stage} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} \
             {unit} ({{per_sec}}, eta {{eta}}) {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
