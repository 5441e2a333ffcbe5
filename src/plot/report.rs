//! report.md: the encoder × category table ranked by average, then every figure with its
//! caption, then the notes on what was skipped or missing. Names and messages come from
//! results.csv, so they are escaped: a name cannot leave its code span, a cell or its line.

use std::fmt::Write;

use super::Drawn;
use super::stats::Stat;
use super::sweep::{Column, Setting, Sweep, describe_recipe, recipe_difference};

pub fn markdown(sweep: &Sweep, figures: &[Drawn], notes: &[String]) -> String {
    let mut out = format!("# Sweep {}\n\n", code(&sweep.name));
    let _ = writeln!(
        out,
        "{} runs, {} benchmarks. Scores are generation scores (the greedy answer judged by each benchmark's \
         scorer) in percent; a category is the mean of its benchmarks (MME's perception sum over 20, as in \
         Cambrian-1's Table 2), Average the mean of the categories; ± is one standard \
         deviation over seeds.\n",
        sweep.runs.len(),
        sweep.benchmarks.len()
    );
    table(&mut out, sweep);
    intervals(&mut out, sweep);
    for figure in figures {
        let file = figure.png.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let _ = writeln!(
            out,
            "\n## {}\n\n![{}]({file})\n\n{} ([SVG]({}.svg))",
            figure.title,
            figure.title,
            text(&figure.caption),
            figure.name
        );
    }
    if !notes.is_empty() {
        out.push_str("\n## Notes\n\n");
        for note in notes {
            let _ = writeln!(out, "- {}", text(note));
        }
    }
    out
}

/// Every encoder setting, best average first (settings without an average last).
fn table(out: &mut String, sweep: &Sweep) {
    let columns = sweep.columns();
    let mut settings = sweep.settings();
    let average = |s: &Setting| s.stat(Column::Average, sweep).map_or(f64::NEG_INFINITY, |a| a.mean);
    settings.sort_by(|a, b| average(b).total_cmp(&average(a)));
    let main = sweep.main_recipe().filter(|main| settings.iter().any(|s| s.recipe != *main));
    // Where some encoder is random-init, which of them are: a control beside checkpoints.
    let controls = settings.iter().any(|s| weights_kinds(s.weights).contains("random"));
    let mut header = vec!["Rank".to_string(), "Encoder".into(), "Family".into()];
    if controls {
        header.push("Weights".into());
    }
    if main.is_some() {
        header.push("Recipe".into());
    }
    header.push("Seeds".into());
    header.extend(columns.iter().map(|c| c.label().to_string()));
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let text_columns = 3 + usize::from(controls) + usize::from(main.is_some());
    let rule: String = (0..header.len()).map(|i| if i < text_columns { "---|" } else { "--:|" }).collect();
    let _ = writeln!(out, "|{rule}");
    for (rank, setting) in settings.iter().enumerate() {
        let families: Vec<String> = setting.families.iter().map(|f| f.to_string()).collect();
        let encoder = code(setting.encoder).replace('|', "\\|");
        let mut cells = vec![(rank + 1).to_string(), encoder, families.join(" + ")];
        if controls {
            cells.push(weights_kinds(setting.weights));
        }
        if let Some(main) = main {
            let difference = recipe_difference(setting.recipe, main);
            cells.push(if difference.is_empty() { "main".into() } else { text(&difference.join(", ")) });
        }
        cells.push(setting.runs.len().to_string());
        cells.extend(columns.iter().map(|&c| cell(setting.stat(c, sweep))));
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    if let Some(main) = main {
        let recipe = text(&describe_recipe(main));
        let _ = writeln!(out, "\nMain recipe (most encoders): {recipe}. Recipe: where a row differs from it.");
    }
}

/// `random` or `trained` per encoder of a `weights` label (`random+hub:…` → `random + trained`).
fn weights_kinds(weights: &str) -> String {
    let kinds: Vec<&str> = weights.split('+').map(|w| if w == "random" { "random" } else { "trained" }).collect();
    kinds.join(" + ")
}

/// Per benchmark, each single-seed setting's score with its 95% bootstrap interval over the
/// questions, best first, and which settings the best one is separated from: their intervals
/// do not overlap (a conservative test of the difference, at well under 5%).
fn intervals(out: &mut String, sweep: &Sweep) {
    let settings: Vec<_> = sweep.settings().into_iter().filter(|s| s.runs.len() == 1).collect();
    let mut header = false;
    for benchmark in &sweep.benchmarks {
        let mut scored: Vec<(&str, &str, f64, f64, f64)> = settings
            .iter()
            .filter_map(|s| {
                let row = s.runs[0].rows.get(&benchmark.name)?;
                Some((s.encoder, s.weights, row.generation, row.generation_low?, row.generation_high?))
            })
            .collect();
        if scored.len() < 2 {
            continue;
        }
        if !header {
            header = true;
            out.push_str(
                "\n## 95% intervals over the questions\n\nGeneration scores in percent with their bootstrap \
                 intervals (questions drawn again with replacement, 2,000 times), settings of one seed.\n",
            );
        }
        scored.sort_by(|a, b| b.2.total_cmp(&a.2));
        let _ =
            writeln!(out, "\n### {}\n\n| Encoder | Weights | Score | 95% interval |\n|---|---|--:|--:|", text(&benchmark.name));
        for (encoder, weights, score, low, high) in &scored {
            let (score, low, high) = (100.0 * score, 100.0 * low, 100.0 * high);
            let _ = writeln!(
                out,
                "| {} | {} | {score:.1} | {low:.1}–{high:.1} |",
                code(encoder).replace('|', "\\|"),
                weights_kinds(weights)
            );
        }
        let best = scored[0];
        let (apart, close): (Vec<_>, Vec<_>) = scored[1..].iter().partition(|other| other.4 < best.3);
        let names = |list: &[&(&str, &str, f64, f64, f64)]| {
            if list.is_empty() { "none".to_string() } else { list.iter().map(|s| code(s.0)).collect::<Vec<_>>().join(", ") }
        };
        let _ = writeln!(
            out,
            "\nSignificantly below the best, {} (intervals apart): {}. Not separable from it: {}.",
            code(best.0),
            names(&apart),
            names(&close)
        );
        if let Some(control) = scored.iter().find(|s| s.1 == "random") {
            let above: Vec<_> = scored.iter().filter(|other| other.3 > control.4).collect();
            let _ = writeln!(out, "Above the random-init control {} (intervals apart): {}.", code(control.0), names(&above));
        }
    }
}

fn cell(stat: Option<Stat>) -> String {
    match stat {
        Some(Stat { mean, sd: Some(sd), .. }) => format!("{mean:.1} ± {sd:.1}"),
        Some(Stat { mean, .. }) => format!("{mean:.1}"),
        None => "–".into(),
    }
}

/// `name` as a code span: fenced by one backtick more than its longest run of them, padded
/// where it starts or ends with a backtick or a space (CommonMark strips one space each side),
/// control characters written as escapes (`\n`) so that the span stays on its line.
fn code(name: &str) -> String {
    let inner: String = name.chars().map(visible).collect();
    let longest = inner.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if inner.starts_with(['`', ' ']) || inner.ends_with(['`', ' ']) { " " } else { "" };
    format!("{fence}{pad}{inner}{pad}{fence}")
}

/// Plain text with every character Markdown or a GFM table could read as syntax escaped (and
/// control characters written as escapes, as in [`code`]).
fn text(plain: &str) -> String {
    let mut out = String::with_capacity(plain.len());
    for c in plain.chars() {
        if "\\`*_[]<>|&~#".contains(c) {
            out.push('\\');
        }
        out.push_str(&visible(c));
    }
    out
}

fn visible(c: char) -> String {
    if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_span_holds_any_name() {
        assert_eq!(code("clip-vit-l-14-336"), "`clip-vit-l-14-336`");
        assert_eq!(code("a``b"), "```a``b```");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("x "), "` x  `");
        assert_eq!(code("a\nb\r\t"), "`a\\nb\\r\\t`");
    }

    #[test]
    fn plain_text_has_no_markdown_left() {
        assert_eq!(text("run a_b: <b>|[x](y)</b> *"), "run a\\_b: \\<b\\>\\|\\[x\\](y)\\</b\\> \\*");
        assert_eq!(text("a\\b\nc"), "a\\\\b\\nc");
    }
}
