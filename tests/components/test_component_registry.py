import subprocess
import sys

from pipeline import Filter, Scorer, Source, registered

FIXED = {
    Source: ["thunder", "phoenix"],
    Filter: [
        "drop_duplicates",
        "core_data",
        "age",
        "self_post",
        "repost_dedup",
        "previously_seen",
        "previously_served",
        "muted_keyword",
        "author_social_graph",
        "visibility",
        "conversation_dedup",
    ],
    Scorer: ["weighted", "author_diversity", "oon", "phoenix"],
}


def test_every_fixed_name_is_registered_in_its_stage():
    for base, names in FIXED.items():
        in_stage = registered(base.stage)
        for name in names:
            assert issubclass(in_stage[name], base), name
    assert "top_k" in registered("selector")


def test_importing_the_registry_does_not_import_jax():
    code = "import sys, components.registry; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
