//! The conversation templates Cambrian-1 trained and evaluated with, as its
//! `cambrian/conversation.py` renders them (`Conversation.get_prompt`), whitespace and
//! quirks included: `vicuna_v1` (Vicuna-1.5 LLMs), `llama_3` (Llama-3, no newline after the
//! header tokens, as Cambrian wrote it), `chatml` (Cambrian's `chatml_direct` /
//! `cambrian_chatml`, for Yi and Qwen; no newline between turns) and `plain` (the
//! connector pre-training format).

use std::ops::Range;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
pub enum Template {
    #[serde(rename = "vicuna_v1")]
    #[value(name = "vicuna_v1")]
    VicunaV1,
    #[serde(rename = "llama_3")]
    #[value(name = "llama_3")]
    Llama3,
    #[serde(rename = "chatml")]
    #[value(name = "chatml")]
    Chatml,
    #[serde(rename = "plain")]
    #[value(name = "plain")]
    Plain,
}

const VICUNA_SYSTEM: &str = "A chat between a curious user and an artificial intelligence assistant. \
The assistant gives helpful, detailed, and polite answers to the user's questions.";

const LLAMA_3_SYSTEM: &str = "You are Cambrian, a highly intelligent multimodal AI trained by NYU Vision X. \n    \
As a multimodal AI, you have the ability to process and analyze images. Whenever an image is present in the \
conversation, very carefully examine it and consider its content when formulating your response.\n    \
You should give concise responses to very simple questions, but provide thorough responses to more complex and \
open-ended questions. ";

const CHATML_SYSTEM: &str = "<|im_start|>system\nYou are Cambrian, a highly intelligent multimodal AI trained by \
NYU Vision X. As a multimodal AI, you have the ability to process and analyze images. Whenever an image is present \
in the conversation, very carefully examine it and consider its content when formulating your response. You should \
give concise responses to very simple questions, but provide thorough responses to more complex and open-ended \
questions.";

/// One exchange; only the last may lack an answer (the one to generate).
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    pub user: &'a str,
    pub assistant: Option<&'a str>,
}

impl Template {
    /// A single question, ready for the assistant's answer.
    pub fn prompt(self, user: &str) -> String {
        self.render(&[Turn { user, assistant: None }])
    }

    pub fn render(self, turns: &[Turn]) -> String {
        self.render_with_answers(turns).0
    }

    /// The rendered conversation and, per answered turn, the byte range of the answer with
    /// the separator that ends it (`</s>`, `<|eot_id|>`, `<|im_end|>`, the plain newline):
    /// the text the training loss covers, as Cambrian's `preprocess_*` functions unmask it.
    pub fn render_with_answers(self, turns: &[Turn]) -> (String, Vec<Range<usize>>) {
        let mut out = String::new();
        let mut answers = Vec::new();
        let mut answer = |out: &mut String, text: &str, end: &str| {
            let start = out.len();
            out.push_str(text);
            out.push_str(end);
            answers.push(start..out.len());
        };
        match self {
            // SeparatorStyle.TWO, seps " " and "</s>".
            Template::VicunaV1 => {
                out.push_str(VICUNA_SYSTEM);
                out.push(' ');
                for turn in turns {
                    out.push_str(&format!("USER: {} ASSISTANT:", turn.user));
                    if let Some(text) = turn.assistant {
                        out.push(' ');
                        answer(&mut out, text, "</s>");
                    }
                }
            }
            // SeparatorStyle.LLAMA_3: the assistant header always ends the prompt.
            Template::Llama3 => {
                out.push_str("<|begin_of_text|><|start_header_id|>system<|end_header_id|>");
                out.push_str(LLAMA_3_SYSTEM);
                out.push_str("<|eot_id|>");
                for turn in turns {
                    out.push_str(&format!("<|start_header_id|>user<|end_header_id|>{}<|eot_id|>", turn.user));
                    if let Some(text) = turn.assistant {
                        out.push_str("<|start_header_id|>assistant<|end_header_id|>");
                        answer(&mut out, text, "<|eot_id|>");
                    }
                }
                out.push_str("<|start_header_id|>assistant<|end_header_id|>");
            }
            // SeparatorStyle.MPT with sep "<|im_end|>".
            Template::Chatml => {
                out.push_str(CHATML_SYSTEM);
                out.push_str("<|im_end|>");
                for turn in turns {
                    out.push_str(&format!("<|im_start|>user\n{}<|im_end|><|im_start|>assistant\n", turn.user));
                    if let Some(text) = turn.assistant {
                        answer(&mut out, text, "<|im_end|>");
                    }
                }
            }
            // SeparatorStyle.PLAIN: the question then "\n" at inference. With an answer,
            // Cambrian's `preprocess_plain` joins question and answer directly and ends with "\n".
            Template::Plain => {
                for turn in turns {
                    out.push_str(turn.user);
                    match turn.assistant {
                        Some(text) => answer(&mut out, text, "\n"),
                        None => out.push('\n'),
                    }
                }
            }
        }
        (out, answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_question_prompts() {
        assert_eq!(Template::VicunaV1.prompt("Hi?"), format!("{VICUNA_SYSTEM} USER: Hi? ASSISTANT:"));
        assert_eq!(
            Template::Llama3.prompt("Hi?"),
            format!(
                "<|begin_of_text|><|start_header_id|>system<|end_header_id|>{LLAMA_3_SYSTEM}<|eot_id|>\
                 <|start_header_id|>user<|end_header_id|>Hi?<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
            )
        );
        assert_eq!(
            Template::Chatml.prompt("Hi?"),
            format!("{CHATML_SYSTEM}<|im_end|><|im_start|>user\nHi?<|im_end|><|im_start|>assistant\n")
        );
        assert_eq!(Template::Plain.prompt("<image>"), "<image>\n");
    }

    #[test]
    fn answered_turns_carry_their_separators() {
        let turns = [Turn { user: "Q1", assistant: Some("A1") }, Turn { user: "Q2", assistant: None }];
        assert_eq!(Template::VicunaV1.render(&turns), format!("{VICUNA_SYSTEM} USER: Q1 ASSISTANT: A1</s>USER: Q2 ASSISTANT:"));
        assert_eq!(
            Template::Chatml.render(&turns),
            format!(
                "{CHATML_SYSTEM}<|im_end|><|im_start|>user\nQ1<|im_end|><|im_start|>assistant\nA1<|im_end|>\
                 <|im_start|>user\nQ2<|im_end|><|im_start|>assistant\n"
            )
        );
    }

    #[test]
    fn system_prompts_keep_cambrians_whitespace() {
        assert!(LLAMA_3_SYSTEM.contains("NYU Vision X. \n    As a multimodal AI"));
        assert!(LLAMA_3_SYSTEM.ends_with("open-ended questions. "));
        assert!(CHATML_SYSTEM.contains("response. You should"));
    }
}
