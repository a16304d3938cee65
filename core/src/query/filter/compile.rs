//! Compiling the postfix expression into the evaluation program ([`Insn`]s) that
//! [`Filter::eval`](super::Filter::eval) runs with one boolean register.
//!
//! Invariants of the program: every jump goes forward (`to > pc`, `to <= code.len()`), so it
//! runs at most `code.len()` steps; every test and jump index fits `u16` (at most
//! `FILTER_TERMS_MAX` tests and as many jumps); jumps are threaded, so none lands on a jump
//! whose outcome is then already known.

use super::{Insn, Node};

/// An instruction while compiling: jumps are relative (`skip` instructions after the next
/// one), so fragments can be concatenated without relocation.
#[derive(Debug, Clone, Copy)]
enum Frag {
    Test { term: u16, neg: bool },
    Jump { when: bool, skip: usize },
}

/// Compiles postfix `nodes` into the evaluation program.
///
/// Each operand becomes a fragment that leaves the operand's value in the register and whose
/// jumps all land inside it or at its end, with the register then holding the value of the
/// fragment ending there. `and` chains its children with "jump to the end if false", `or` with
/// "jump to the end if true". `not` flips every test and jump condition of its fragment, which by
/// De Morgan computes the negation with the same invariant. Finally jumps are threaded: a jump
/// landing on another jump whose outcome is then known goes straight to where that one goes.
pub(super) fn compile(nodes: &[Node]) -> Box<[Insn]> {
    let mut frags: Vec<Vec<Frag>> = Vec::new();
    for node in nodes {
        match *node {
            Node::Term(term) => frags.push(vec![Frag::Test { term, neg: false }]),
            Node::Not => {
                for insn in frags.last_mut().into_iter().flatten() {
                    match insn {
                        Frag::Test { neg, .. } => *neg = !*neg,
                        Frag::Jump { when, .. } => *when = !*when,
                    }
                }
            }
            Node::And(n) | Node::Or(n) => {
                let when = matches!(node, Node::Or(_));
                let children = frags.split_off(frags.len().saturating_sub(usize::from(n)));
                let total = children.iter().map(Vec::len).sum::<usize>() + children.len().saturating_sub(1);
                let mut frag = Vec::with_capacity(total);
                let last = children.len().saturating_sub(1);
                for (i, child) in children.into_iter().enumerate() {
                    frag.extend(child);
                    if i < last {
                        frag.push(Frag::Jump {
                            when,
                            skip: total - frag.len() - 1,
                        });
                    }
                }
                frags.push(frag);
            }
        }
    }
    let frag = frags.pop().unwrap_or_default();
    // Fits u16: at most FILTER_TERMS_MAX tests and as many jumps (asserted above).
    let mut code: Vec<Insn> = frag
        .iter()
        .enumerate()
        .map(|(pc, f)| match *f {
            Frag::Test { term, neg } => Insn::Test { term, neg },
            Frag::Jump { when, skip } => Insn::Jump {
                when,
                to: (pc + 1 + skip) as u16,
            },
        })
        .collect();
    // Thread jumps, last first, so that every target is already threaded when it is followed.
    for pc in (0..code.len()).rev() {
        if let Insn::Jump { when, to } = code[pc] {
            let mut to = usize::from(to);
            while let Some(&Insn::Jump { when: w, to: t }) = code.get(to) {
                to = if w == when { usize::from(t) } else { to + 1 };
            }
            code[pc] = Insn::Jump { when, to: to as u16 };
        }
    }
    code.into_boxed_slice()
}
