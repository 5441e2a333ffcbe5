//! transformers' `get_cosine_schedule_with_warmup` (num_cycles = 0.5), the schedule of
//! LLaVA and Cambrian-1 (`lr_scheduler_type = cosine`, `warmup_ratio = 0.03`): linear from 0
//! over the warmup steps, then half a cosine down to 0 at the last step. A pure function of
//! the step, so a resumed run needs no scheduler state.

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarmupCosine {
    pub peak_lr: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
}

impl WarmupCosine {
    /// Warmup as a fraction of the total, rounded up as transformers' `get_warmup_steps` does.
    pub fn with_ratio(peak_lr: f64, warmup_ratio: f64, total_steps: u64) -> Self {
        let warmup_steps = (total_steps as f64 * warmup_ratio).ceil() as u64;
        Self { peak_lr, warmup_steps, total_steps }
    }

    /// The learning rate of optimizer step `step` (0-based: the first update uses step 0).
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.peak_lr * step as f64 / self.warmup_steps.max(1) as f64;
        }
        let progress = (step - self.warmup_steps) as f64 / self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        self.peak_lr * (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of `get_cosine_schedule_with_warmup(opt, 3, 10)` with lr 1e-3 (transformers
    /// 5.24; `warmup_ratio` uses `get_warmup_steps`'s ceil), i.e. `scheduler.get_last_lr()` before each of ten steps.
    #[test]
    fn matches_transformers() {
        let expected = [
            0.0,
            0.0003333333333333333,
            0.0006666666666666666,
            0.001,
            0.0009504844339512095,
            0.0008117449009293668,
            0.0006112604669781572,
            0.00038873953302184284,
            0.00018825509907063325,
            4.9515566048790485e-05,
        ];
        let schedule = WarmupCosine { peak_lr: 1e-3, warmup_steps: 3, total_steps: 10 };
        for (step, want) in expected.iter().enumerate() {
            let got = schedule.lr(step as u64);
            assert!((got - want).abs() < 1e-15, "step {step}: {got} vs {want}");
        }
    }

    #[test]
    fn warmup_ratio_rounds_up() {
        assert_eq!(WarmupCosine::with_ratio(1.0, 0.03, 100).warmup_steps, 3);
        assert_eq!(WarmupCosine::with_ratio(1.0, 0.03, 101).warmup_steps, 4);
    }
}
