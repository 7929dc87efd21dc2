"""Fig. 8 (and the networks of Fig. 7) on `digits`: width-, depth-, resolution-only and compound
scaling at equal MACs, phi = 0..3.

    scaling sweep compound-vs-single                              # alpha, beta, gamma = 1.2, 1.1, 1.15
    scaling sweep compound-vs-single --from-study search_digits   # the winner of `scaling search` instead
    scaling sweep compound-vs-single --dry-run                    # the matched networks and their MACs
    scaling plot sweep_compound_vs_single
    scaling cam --studies sweep_compound_vs_single --images 4     # Fig. 7 at phi = 3 (the largest compound)

Wall time: benchmarks/RESULTS.md, "Packaged experiments: wall times".
``--base-resolution 32 --name sweep_compound_vs_single_32`` trains about a quarter of the MACs (and
its CAMs are coarser).

For every phi the compound network is (alpha^phi, beta^phi, gamma^phi); the width-, depth- and
resolution-only networks are the multipliers (in steps of 0.01) whose real MACs are closest to it.
phi = 0 is the baseline, shared by the four lines: 1 + 4 x 3 = 13 networks. Baseline: B0 at depth
0.25 and width 0.5 as in ``scaling.proxies.digits``, but at 64 px, so that the last feature map
(stride 32) is at least 2x2 and the class activation maps show something.
"""

from scaling import proxies
from scaling.network import Network
from scaling.study import StudyConfig
from scaling.sweeps import SweepConfig


def get_config() -> SweepConfig:
    train = proxies.digits(network=Network(depth=0.25, width=0.5, base_resolution=64))
    return SweepConfig(study=StudyConfig(name="sweep_compound_vs_single", train=train), sweep="compound-vs-single",
                       phi="0:3", alpha=1.2, beta=1.1, gamma=1.15)
