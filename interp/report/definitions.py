"""The terms a study report uses, defined once: shown in every report and in docs/definitions.md
(a test keeps the two the same)."""

DEFINITIONS: list[tuple[str, str]] = [
    (
        "bias-aligned / bias-conflicting",
        "An example is bias-aligned when the shortcut predicts its gold label (full lexical "
        "overlap and entailment; a negated hypothesis and contradiction; the class colour or "
        "marker of a digit) and bias-conflicting when it does not. Accuracy on bias-conflicting "
        "examples is what a model that takes the shortcut loses.",
    ),
    (
        "gap",
        "Accuracy on bias-aligned minus accuracy on bias-conflicting examples of a bias type. "
        "A model that follows the shortcut has a large gap; a debiased one narrows it; a "
        "negative gap means the model over-corrects (it now errs on the aligned examples).",
    ),
    (
        "M",
        "The metric of distillability: accuracy on the bias-conflicting examples of one bias "
        "type (for overlap: those of the lexical_overlap, subsequence and constituent suites; "
        "for colour and marker: the held-out digits drawn with another class's colour or "
        "marker slot).",
    ),
    (
        "distillability D",
        "D = M(KD student) - M(teacher). Negative: the student lost part of the teacher's "
        "robustness to the shortcut. Given as the mean over seeds with a 95% bootstrap interval "
        "that resamples seeds and examples.",
    ),
    (
        "contribution C",
        "C = M(KD student) - M(student trained without KD, with the teacher's debiasing loss). "
        "Positive: distillation transferred robustness that training alone did not give.",
    ),
    (
        "minimal pair",
        "A bias-conflicting example (clean) and a partner of the same token length that differs "
        "minimally and carries the other label (corrupt). An image pair is one digit drawn "
        "with its own class's colour or marker (clean) and with another class's (corrupt): the "
        "label stays and the foil is the class the conflicting feature points to. A study "
        "analyses the pairs that the teacher tells apart: its logit difference moves by at "
        "least the minimum separation.",
    ),
    (
        "logit difference and its gap",
        "The logit of the clean example's label minus that of the partner's label (for images: "
        "of the class the conflicting feature points to); its gap is the mean on clean inputs "
        "minus the mean on corrupt inputs: how far the model tells the two apart (for images: "
        "how far the spurious feature pulls it).",
    ),
    (
        "faithfulness",
        "(m(circuit) - m(empty)) / (m(model) - m(empty)), with m the mean logit difference on "
        "the clean inputs when every component outside the circuit takes its value from the "
        "corrupt input (for an edge circuit: every edge outside it carries its sender's "
        "corrupt output, so the empty circuit is the corrupt run). 1: the circuit alone "
        "carries the behaviour. Undefined (n/a, and no circuit drawn) when the model does not "
        "tell the pairs apart.",
    ),
    (
        "circuit",
        "The smallest set of units, taken in the order of their attribution (EAP-IG by "
        "default), whose faithfulness reaches the target (0.8 by default). Where the "
        "attribution ranks units unlike exact patching (Spearman below 0.6), the ranking is "
        "unreliable and the exact effects order the units instead.",
    ),
    (
        "units",
        "What a circuit is made of: attention heads and MLPs (node units, a0.h1 and m0), "
        "each of them at [CLS], where the classifier reads (a0.h1@cls), and at every other "
        "position (a0.h1@rest): position units; or, in pre-norm models, the edges between "
        "them (edge units, sender->receiver: a0.h1->a1.h2.q into a head's query, key or value "
        "input, m0->m1 into an MLP, a1.h0->logits into the classifier; the embeddings send "
        "too). An edge is patched alone: only its receiver reads the sender's other output.",
    ),
    (
        "chance baseline",
        "The circuit's faithfulness against that of 200 random sets of units of the same shape "
        "(as many heads in each layer, as many MLPs; for edges, as many between each pair of "
        "sending and receiving layers and kinds), on the same pairs with the same patching. "
        "The circuit beats chance when it is above the 95th percentile of the random sets; its "
        "p-value is (1 + random sets at least as faithful) / (1 + random sets).",
    ),
    (
        "finding / distributed",
        "A circuit is a finding when it beats chance and takes at most a quarter of the model's "
        "units. A circuit that beats chance but takes more says that the behaviour is "
        "distributed over the model; the report then draws no circuit.",
    ),
    (
        "specificity",
        "The circuit's units are mean-ablated (set to their mean output over in-distribution "
        "inputs, at [CLS] and elsewhere apart; an edge's receiver reads its sender's mean "
        "output). Damage on a set of examples is the share of "
        "the logit margin (label minus its contrast) lost, over the examples the model gets "
        "right: on the circuit's own pairs (target) and on controls (in-distribution examples, "
        "the minimal pairs of the task's other bias types). Specific: the largest control "
        "damage is below half the target damage.",
    ),
    (
        "CPR / CMD",
        "MIB's circuit scores of a ranking: faithfulness of the top-ranked circuits at 0.1%, "
        "0.2%, 0.5%, 1%, 2%, 5%, 10%, 20%, 50% and 100% of the units (rounded down; of the "
        "edges for an edge ranking), and by "
        "the trapezoid rule over those fractions the area under the curve (CPR, higher is "
        "better) and the area between the curve and 1 (CMD, lower is better).",
    ),
    (
        "correspondence",
        "Student components mapped to teacher components: layers in order (the layers a "
        "teacher-initialised student was copied from, or those a circuit-guided student was "
        "assigned, else the order-preserving map under which heads match best), heads by "
        "attention-pattern similarity solved as an assignment problem, MLPs layer to layer. "
        "Student components keep their own names (a1.h2) and their teacher match is written "
        "beside them.",
    ),
    (
        "shared / teacher-only / student-only",
        "Circuit components compared in teacher names: teacher components with a student "
        "circuit component mapped onto them, those without, and student components mapped "
        "onto none of the teacher's circuit.",
    ),
    (
        "weighted overlap",
        "The weighted Jaccard index of the two circuits' absolute attribution shares, in "
        "teacher names (1: same components with the same weights).",
    ),
    (
        "cross-faithfulness",
        "Each circuit mapped onto the other model through the correspondence and evaluated "
        "there: does the teacher's circuit carry the student's behaviour, and the reverse? "
        "Each with a 95% bootstrap interval over the minimal pairs.",
    ),
    (
        "mechanism verdict",
        "The diff judged by function, from the two directions of cross-faithfulness. A "
        "direction carries when the lower bound of its interval is at least 0.5 and fails when "
        "the upper bound is below 0.5. Shared mechanism: both carry; not shared: both fail; "
        "partly shared: otherwise. Undefined when a model has no circuit or does not tell the "
        "pairs apart. Component overlap is supporting evidence only: different components can "
        "carry the same function.",
    ),
    (
        "stability across seeds",
        "The mean Jaccard index of a model's circuits over every pair of seeds (1: the same "
        "components in every seed; n/a when no seed has a circuit). Findings name only "
        "components found in at least two thirds of the seeds (2 of 3).",
    ),
    (
        "stream",
        "The residual stream of a model at one depth: stream 0 enters the first block (after "
        "the embeddings), stream l leaves block l - 1, the last stream leaves the last block "
        "(before any final norm and the head). The readout position is [CLS] (position 0).",
    ),
    (
        "stitching and recovered robustness R",
        "The teacher's stream L replaces the student's stream l (every position when both "
        "read the same tokens, else the readout) through an affine map, and the student runs "
        "on from there. The map is first fitted by ridge regression (penalty 1e-3 of the "
        "input's mean variance) from the teacher's stream L to the student's stream l on 512 "
        "in-distribution training examples (its held-out R^2 is reported), then fine-tuned "
        "for 40 steps with the task's loss on the same examples through the student's later "
        "layers, the models frozen (model stitching). The stitch's mean logit offset from the"
        " student on half of 256 held-out in-distribution examples is removed, so that a push"
        " a map gives every input alike is not counted. R = (M(stitched) - M(student)) / "
        "(M(teacher) - M(student)) on up to 256 bias-conflicting examples, with a 95% "
        "interval that resamples them; undefined unless the teacher-student difference is "
        "significant (its interval above 0). The controls are the student stitched to itself "
        "and the teacher to itself through maps fitted and fine-tuned the same way.",
    ),
    (
        "located layer",
        "The student stream l where the best R over teacher streams (each clipped to [0, 1]) "
        "rises most from stream l - 1, by at least 0.25, with R at least 0.5 and the lower "
        "end of its interval above zero and above the student's self-stitch control: the "
        "student's block l - 1 discards what the teacher's stream carries. When such a stitch"
        " recovers from the student's embeddings on (stream 0), no student block discards it:"
        " the student never computes it. Along the teacher's depth, the teacher block across "
        "which R into that student stream rises most computes what the student lacks. "
        "Otherwise no layer is located, and the verdict says why.",
    ),
    (
        "probe",
        "A logistic probe (L2, C = 0.1, standardised features) for the gold label from one "
        "stream's readout, trained on the bias type's aligned and conflicting examples of "
        "half of the templates (images: source digits) and tested, as balanced accuracy, on "
        "the other half. Its control is the same probe trained on shuffled labels (chance "
        "when the method is sound). Each accuracy is the mean over 4 random template splits. "
        "A model decodes the label at a layer when its probe beats the control by at least "
        "0.1.",
    ),
    (
        "readout dissimilarity and seed baseline",
        "1 - linear CKA of two models' last-stream readouts on the bias-conflicting examples,"
        " with a 95% interval that resamples them: teacher and KD student, two seeds of the "
        "teacher (the next seed of the study), the KD student and the student trained without"
        " KD. A teacher-student difference is beyond the seed baseline when its interval lies"
        " above the two seeds'.",
    ),
]
