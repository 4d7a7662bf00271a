"""Translation into English, offline: Argos Translate models first, Apertium where it covers a
language, a copy for English, and an honest `none:REASON` where nothing does.

Modules: base (backend interface and registry), argos and apertium (the backends), segment
(offline sentence splitting), cache (translation cache), routing (which backend for which
article), models (install/list/remove Argos packages), stage (the pipeline stage).
"""

import os

# CTranslate2's OpenMP threads spin while they wait for work. On a machine whose few cores are
# busy with other work that made translation 10-30 times slower (measured here: 61 s instead
# of 1.8 s for one batch); waiting passively costs little on an idle machine. OpenMP reads this
# when ctranslate2 is loaded, so it is set when this package is first imported; a value the
# user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
