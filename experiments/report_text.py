"""Explainer text of ``experiments.report``: one entry per concept, kept apart from the code that
runs the studies. Each entry is markdown plus ``code``: the objects whose source the report
embeds under the text (``module:qualname``), i.e. the code that produced its numbers."""

INTRO = """\
Every number and figure below was produced by the code shown beside it, on the small real data
sets in `../shared/data` (CIFAR-10: 5,000 JPEG test images split 4,000 / 1,000, stratified and
fixed; MNIST: the 10,000 test digits split 8,000 / 2,000; Set5 and T91 for super-resolution).
**Small data, honest numbers**: the classification runs are minutes of CPU, not the papers'
hundreds of epochs, so they show what was measured here and nothing beyond it. The quick report
(`python -m experiments.report`) trains for a few steps only: read its accuracies as a smoke test;
`--full` runs the long versions.
"""

CONCEPTS = {
    "resnet": {
        "title": "The ResNet architecture",
        "text": """\
A residual network stacks blocks `y = relu(F(x) + shortcut(x))`: the block learns a *correction*
`F` to the identity, so a deep stack can never be worse than a shallow one at initialisation and
gradients reach early layers through the shortcuts unattenuated. The CIFAR ResNets of He et al.
(2016, section 4.2) are `6n + 2` layers: a 3x3 conv to 16 channels, three stages of `n` basic
blocks at 16, 32 and 64 channels (stride 2 entering stages 2 and 3: the map goes 32 -> 16 -> 8),
global average pooling and a linear classifier. When a stage changes shape, option **A** (used
here, as in the paper's CIFAR models) subsamples and zero-pads the channels, adding no parameters;
option **B** projects with a 1x1 conv + BN. ResNet-20 (`n = 3`) has 269,722 parameters, the
paper's figure, and the registry checks it exactly.""",
        "code": ["jaxcnn.blocks.residual:zero_pad_shortcut", "jaxcnn.blocks.residual:BasicBlock"],
    },
    "preact": {
        "title": "Pre-activation",
        "text": """\
He et al.'s *Identity Mappings* paper (2016) moves BN and ReLU *before* each conv
(BN-ReLU-conv-BN-ReLU-conv) and removes the ReLU after the addition, so the shortcut path is a pure
identity from any block to any later one: `x_L = x_l + sum F_i`. That makes very deep nets
(ResNet-1001) train; a final BN-ReLU follows the last block because the blocks now end with a plain
addition. In the study the `preact` arm is the same 20-layer net with pre-activation blocks
(`block='preact_basic', stem='preact_cifar'`), so only the ordering differs from the baseline. The
paper's gains are for 110+ layers; at 20 layers and a few hundred steps expect no difference
beyond seed noise.""",
        "code": ["jaxcnn.blocks.residual:PreActBasicBlock"],
    },
    "stochastic_depth": {
        "title": "Stochastic depth",
        "text": """\
Huang et al. (2016) drop whole residual branches during training: block `l` survives with
probability `p_l = 1 - (l / L)(1 - p_L)`, `p_L = 0.5`, so early blocks almost always run and the last
one half the time; the network is an implicit ensemble of shallower nets, and training is cheaper.
The paper drops the branch for the *whole mini-batch* and, at test time, scales each branch by
`p_l`. Later libraries (timm's DropPath, torchvision's `mode='row'`) drop per sample and divide by
`p` at training time instead, and their linear rules differ (`i/(N-1)`, `i/N`, `(i+1)/N`); jaxcnn
implements the paper's rule by default, and a dropped batch-mode branch is skipped under `lax.cond`
(no compute at all). In the study: `drop_path_rate=0.5` on ResNet-20 (the paper used 110 layers;
with 9 blocks and a short schedule the regulariser mainly adds noise).""",
        "code": ["jaxcnn.regularizers.stochastic_depth:survival_probabilities"],
    },
    "cutout_dropblock": {
        "title": "Cutout vs DropBlock",
        "text": """\
Both remove *contiguous regions* rather than independent pixels, because neighbouring activations
are correlated: dropout's scattered zeros are easily filled in from the neighbours, a missing square
is not. **Cutout** (DeVries & Taylor 2017) is data augmentation: one square per input image
(16x16 on CIFAR-10), centre uniform over the image so the square may hang over the border, the
same square on every channel, applied after normalisation so the fill is the data mean.
**DropBlock** (Ghiasi et al. 2018) acts on *feature maps* inside the net: seeds drawn with rate
`gamma = (1 - keep)/bs^2 * f^2/(f - bs + 1)^2`, only where a whole block fits, grown into
`bs x bs` blocks (a separate mask per channel), and the survivors rescaled by count/count_kept.
The paper's gamma is only approximate: the realised drop fraction differs from the nominal one,
as the table of realised rates below shows; `gamma_rule='exact'` solves for the nominal rate.
In the study DropBlock uses block 3 on stages 2 and 3 (16x16 and 8x8 maps; the paper's block 7 is
meant for ImageNet's 14x14 / 7x7 maps) at drop rate 0.1, with a fixed rate (the paper ramps keep_prob
linearly; the model field is static).""",
        "code": [
            "jaxcnn.regularizers.cutout:cutout",
            "jaxcnn.regularizers.dropblock:drop_block",
            "experiments.classification_study:make_step",
        ],
    },
    "blocks": {
        "title": "Residual blocks and their trade-offs: basic vs bottleneck",
        "text": """\
The **basic** block is two 3x3 convs at width `w`: `18 w^2` weights. The **bottleneck** is 1x1 down
to `w`, 3x3 at `w`, 1x1 up to `4w`: `17 w^2` weights for a block whose output is 4x wider -- the
ResNet paper's argument for using it in deep nets (ResNet-50/101/152): the expensive 3x3 runs on the
thin representation, so depth and output width are cheap. The price is more layers (3 per block),
more memory traffic and activations per parameter. The table measures both at the same stage
layout and inner width, plus a *narrow* bottleneck whose outputs match the basic net's width
(16/32/64, so `w/4` inside), which is the "cheaper" reading of the claim.""",
        "code": ["jaxcnn.blocks.residual:BottleneckBlock", "experiments.tradeoffs:configs"],
    },
    "resnext": {
        "title": "ResNeXt",
        "text": """\
Xie et al. (2017) split the bottleneck's 3x3 conv into `C` parallel paths ("cardinality") and sum
them; that is exactly a *grouped* convolution with `C` groups, which jaxcnn proves by mapping the
grouped weights onto explicit branches (`jaxcnn.identities.grouped_to_branches`). At a fixed budget,
grouping lets the inner width grow: here 4 groups of width `w/2` give an inner width `2w` whose 3x3
costs the same as the plain bottleneck's, while the 1x1s double.""",
        "code": ["jaxcnn.identities.resnext:grouped_to_branches"],
    },
    "se": {
        "title": "Squeeze-and-Excitation",
        "text": """\
Hu et al. (2018) gate each channel of a block's output by a function of the whole image: *squeeze*
by global average pooling to one number per channel, *excite* with a two-layer MLP (reduction 16,
ReLU then sigmoid), and multiply. It costs `2 C^2 / r` weights per block and almost no MACs, but
adds a global reduction (a synchronisation point) to every block, which shows up as latency rather
than as MACs.""",
        "code": ["jaxcnn.blocks.squeeze_excite:SqueezeExcite"],
    },
    "mbconv": {
        "title": "MBConv (MobileNetV2 inverted residual)",
        "text": """\
Sandler et al. (2018) invert the bottleneck: expand a thin input 6x with a 1x1 conv, filter with a
3x3 *depthwise* conv (one filter per channel: `9C` weights instead of `9C^2`), and project back with
a *linear* 1x1 (no ReLU: a ReLU on a thin representation destroys information). The shortcut joins
the thin ends. Few parameters and MACs; but the depthwise conv does little arithmetic per byte
moved, so on CPUs and accelerators its wall-clock time is far worse than its MAC count suggests,
and the 6x expanded activations dominate training memory.""",
        "code": ["jaxcnn.blocks.inverted:InvertedResidual"],
    },
    "receptive_field": {
        "title": "Receptive fields",
        "text": """\
The *receptive field* of an output unit is the input region that can influence it. For a chain of
convs with kernels `k_i` and strides `s_i` it grows as `r += (k_i - 1) * prod_{j<i} s_j`: linearly
with depth, and faster after each stride. `jaxcnn.analysis` computes it exactly by interpreting the
model's jaxpr (no formula per layer type). The *effective* receptive field (Luo et al. 2016) is the
gradient of a central output unit with respect to the input: roughly Gaussian and much smaller than
the theoretical field, because the many paths through the centre outnumber those through the edges.""",
        "code": ["jaxcnn.analysis.measured:effective_receptive_field"],
    },
    "interpolation": {
        "title": "Nearest, bilinear and bicubic interpolation",
        "text": """\
Fixed upsampling filters. *Nearest* repeats pixels (blocky); *bilinear* interpolates linearly
between the 2x2 nearest samples (blurry); *bicubic* uses Keys' cubic kernel on 4x4 samples
(a = -0.75 in torch, -0.5 in MATLAB), sharper with slight ringing. Conventions matter at the
0.1 dB level: pixel centres at half-integers (`align_corners=False`), antialiasing when *down*sampling
(MATLAB does, torch does not by default), and border handling. The SR protocol's LR images are made
with MATLAB's antialiased bicubic; the gallery shows torch's and MATLAB's bicubic side by side.""",
        "code": ["jaxcnn.upsample.interpolate:interpolate"],
    },
    "unpool": {
        "title": "Max-unpooling",
        "text": """\
SegNet's decoder upsampling: max-pooling remembers *where* each maximum came from, and unpooling
writes each value back to that position, zeros elsewhere. It preserves locations of strong
responses, not images: the output is sparse (8 of every 9 pixels zero at 3x3), which is why its
PSNR against the photo is very low. It is meant to be followed by convolutions that densify it.""",
        "code": ["jaxcnn.upsample.unpool:max_unpool"],
    },
    "transposed": {
        "title": "Transposed convolution and its output-size equation",
        "text": """\
A convolution is linear, `y = C x`, with `C` a sparse matrix of kernel weights (drawn below for the
worked example: 4x4 input, 3x3 kernel, stride 1, no padding, so `C` is 4 x 16). The *transposed*
convolution is `x' = C^T y`: it maps the conv's output space back to its input space, which is
exactly the input-gradient (vjp) of the convolution -- jaxcnn computes it that way and proves it
equal to the dense `C^T y`, the closed-form gradient, zero insertion with a flipped kernel,
`lax.conv_transpose` and PyTorch. Its output size (PyTorch `ConvTranspose2d`) is

`H_out = (H - 1) s - 2p + d (k - 1) + output_padding + 1`,  with `output_padding < max(s, d)`

(`output_padding` picks one of the `s` input sizes that a stride-`s` conv maps to the same `H`).
With stride `s` and a kernel size not divisible by `s`, output pixels receive unequal numbers of
kernel taps -- the *checkerboard* of Odena et al. (2016). A bilinear kernel (FCN's initialisation)
makes the transposed conv *exactly* bilinear interpolation, as the gallery's identical PSNRs show.""",
        "code": ["jaxcnn.upsample.transposed:conv_transpose", "jaxcnn.identities.conv_matrix:conv_matrix"],
    },
    "subpixel": {
        "title": "Sub-pixel convolution (ESPCN) and ICNR",
        "text": """\
Shi et al. (2016) compute everything at low resolution and finish with a conv to `C r^2` channels
followed by a *pixel shuffle* that rearranges each group of `r^2` channels into an `r x r` cell.
A sub-pixel conv with kernel `k` is the same function class as a transposed conv with kernel `k r`
and stride `r` (their paper's own argument), but `r^2` times cheaper to compute. The gallery shows it
numerically: a 3x3 sub-pixel conv holding the phases `W[e1, e2, i r + j] = K[r(2 - e1) + i, r(2 - e2) + j]`
of the 9x9 bilinear transposed-conv kernel `K` gives bilinear interpolation exactly, and trained
side by side with Adam (elementwise, so blind to that permutation of weights) the two reach the
same PSNR. Randomly
initialised, the `r^2` sub-filters differ, so each output cell has a fixed pattern: a checkerboard.
**ICNR** (Aitken et al. 2017) initialises the `r^2` sub-filters of each output channel identically
(torch's channel order `c r^2 + i r + j`, so *repeat* each filter, not tile), making the initial
layer a conv followed by nearest-neighbour upsampling: cell deviation exactly 0 below.""",
        "code": ["jaxcnn.upsample.subpixel:pixel_shuffle", "jaxcnn.upsample.subpixel:icnr"],
    },
    "lstsq_refit": {
        "title": "The last conv in closed form (`--refit-last`)",
        "text": """\
ESPCN's sub-pixel conv has no activation after it, so with the tanh features below it held fixed the
MSE is a convex quadratic in its kernel and bias: the exact optimum solves the normal equations
`A w = B`, `A = sum x x^T` and `B = sum x y^T` over every LR pixel of the training set, `x` the
pixel's 3x3x32 feature neighbourhood plus a 1, `y` its `r^2` HR targets (pixel-unshuffled). Adam only
approaches that point, slowly for a layer the paper trains 10x slower, so solving the 289x289 system
after training lowers the training MSE for free (the table above gives both errors, computed exactly
from the system). Tests check the solution against a dense design matrix built by index loops and
`jax.grad` of a Flax conv vanishing at it.""",
        "code": ["experiments.lstsq:conv_normal_equations", "experiments.lstsq:solve_conv_lstsq"],
    },
}
