"""One-line semantic bugs for ``mutate.py``: (file, exact old text, new text, tests that should catch it).

``nth`` picks the n-th occurrence (1-based) where the old text is not unique. Keep each test list
to the file(s) that cover the code: the pass runs on 2 shared CPU cores. The first nine are bugs
the suite missed (seven) or caught only indirectly (two) before the block and regulariser
semantics tests existed; they pin what those tests are for.
"""

B = "tests/blocks/"
R = "tests/regularizers/"
T = "tests/train/"
U = "tests/upsample/"
RES, INV = "jaxcnn/blocks/residual.py", "jaxcnn/blocks/inverted.py"
SD, DB, CO = (
    "jaxcnn/regularizers/stochastic_depth.py",
    "jaxcnn/regularizers/dropblock.py",
    "jaxcnn/regularizers/cutout.py",
)
STEPS = "jaxcnn/train/steps.py"
# Semantics files first: with -x a kill there ends the run sooner (the order changes no verdict).
BLOCK_TESTS = [B + "test_block_semantics.py", B + "test_residual.py"]
SD_TESTS = [R + "test_semantics.py", R + "test_stochastic_depth.py"]
DB_TESTS = [R + "test_semantics.py", R + "test_dropblock.py"]
CO_TESTS = [R + "test_semantics.py", R + "test_cutout.py"]
INV_TESTS = [B + "test_block_semantics.py", B + "test_inverted.py"]
STEP_TESTS = [T + "test_device_keys.py", T + "test_steps.py"]


def m(name, file, old, new, tests, nth=None):
    d = dict(name=name, file=file, old=old, new=new, tests=list(tests))
    if nth is not None:
        d["nth"] = nth
    return d


MUTATIONS = [
    # ---- once missed (seven) or caught only indirectly (two) by the suite --------------------
    m(
        "sd_coin_inverted",
        SD,
        "nn.cond(jax.random.bernoulli(key, p), kept",
        "nn.cond(jax.random.bernoulli(key, 1 - p), kept",
        SD_TESTS,
    ),
    m(
        "preact_basic_relu_before_bn",
        RES,
        "return self.conv2(self.act(apply_norm(self.bn2, y, train)))",
        "return self.conv2(apply_norm(self.bn2, self.act(y), train))",
        BLOCK_TESTS,
    ),
    m(
        "preact_bottleneck_no_mid_relu",
        RES,
        "y = self.conv2(self.act(apply_norm(self.bn2, y, train)))",
        "y = self.conv2(apply_norm(self.bn2, y, train))",
        BLOCK_TESTS,
    ),
    m(
        "basic_zero_init_ignored",
        RES,
        "self.bn2 = self._bn(zero_init=self.zero_init_last_bn)",
        "self.bn2 = self._bn()",
        BLOCK_TESTS,
    ),
    m(
        "dropblock_shared_renorm_by_input",
        DB,
        "keep.size / jnp.maximum(kept, 1.0)",
        "x.size / jnp.maximum(kept, 1.0)",
        DB_TESTS,
    ),
    m(
        "pmap_no_device_fold_in",
        STEPS,
        "rngs[s] = key if axis_name is None else jax.random.fold_in(key, jax.lax.axis_index(axis_name))",
        "rngs[s] = key",
        STEP_TESTS,
    ),
    m(
        "cutout_even_rows_shift",
        CO,
        "jax.random.randint(key_y, (n, 1), 0, h) - size // 2",
        "jax.random.randint(key_y, (n, 1), 0, h) - (size - 1) // 2",
        CO_TESTS,
    ),
    m(
        "mbv2_dw_relu_not_relu6",
        INV,
        'y = self.act(norm(mdl, "dw_bn", y))',
        'y = nn.relu(norm(mdl, "dw_bn", y))',
        INV_TESTS,
    ),
    m(
        "pmap_grads_psum_not_pmean",
        STEPS,
        "jax.lax.pmean((grads, metrics), axis_name)",
        "jax.lax.psum((grads, metrics), axis_name)",
        STEP_TESTS,
    ),
    # ---- blocks ----------------------------------------------------------------------------
    m(
        "basic_no_relu_after_add",
        RES,
        "return self.act(self.residual_add(x, self.shortcut(x, train), train))",
        "return self.residual_add(x, self.shortcut(x, train), train)",
        BLOCK_TESTS,
        nth=1,
    ),
    m(
        "bottleneck_no_mid_relu",
        RES,
        "y = self.act(apply_norm(self.bn2, self.conv2(y), train))",
        "y = apply_norm(self.bn2, self.conv2(y), train)",
        BLOCK_TESTS,
    ),
    m(
        "bottleneck_zero_init_ignored",
        RES,
        "self.bn3 = self._bn(zero_init=self.zero_init_last_bn)",
        "self.bn3 = self._bn()",
        BLOCK_TESTS,
    ),
    m(
        "resnext_branches_zero_init_ignored",
        "jaxcnn/blocks/resnext.py",
        "self.bn3 = self._bn(zero_init=self.zero_init_last_bn)",
        "self.bn3 = self._bn()",
        [B + "test_block_semantics.py", B + "test_resnext.py"],
    ),
    m(
        "preact_projection_of_raw_input",
        RES,
        "short = self.shortcut(pre, train) if",
        "short = self.shortcut(x, train) if",
        BLOCK_TESTS,
    ),
    m(
        "preact_relu_after_add",
        RES,
        "return self.residual_add(pre, short, train)",
        "return nn.relu(self.residual_add(pre, short, train))",
        BLOCK_TESTS,
    ),
    m("shortcut_a_pads_one_side", RES, "(extra // 2, extra - extra // 2)", "(0, extra)", BLOCK_TESTS),
    m(
        "bottleneck_stride_placement_swapped",
        RES,
        "s1, s3 = (1, self.strides) if self.stride_on_3x3",
        "s1, s3 = (self.strides, 1) if self.stride_on_3x3",
        BLOCK_TESTS,
    ),
    m(
        "bottleneck_width_ignores_groups",
        RES,
        "return int(self.features * self.base_width / 64) * self.groups",
        "return int(self.features * self.base_width / 64)",
        [B + "test_resnext.py", "tests/models/test_param_counts.py"],
    ),
    m(
        "mbv2_expand_relu_not_relu6",
        INV,
        'y = self.act(norm(mdl, "expand_bn"',
        'y = nn.relu(norm(mdl, "expand_bn"',
        INV_TESTS,
    ),
    m(
        "mbv2_projection_not_linear",
        INV,
        'return norm(mdl, "project_bn", y)  # linear',
        'return nn.relu6(norm(mdl, "project_bn", y))  # linear',
        INV_TESTS,
    ),
    m(
        "mbv2_hidden_truncates",
        INV,
        "int(round(in_features * self.expand_ratio))",
        "int(in_features * self.expand_ratio)",
        INV_TESTS,
    ),
    m(
        "mbv2_no_residual",
        INV,
        "residual = self.strides == 1 and in_features == self.features",
        "residual = False",
        INV_TESTS,
    ),
    m(
        "se_gate_not_sigmoid",
        "jaxcnn/blocks/squeeze_excite.py",
        "s = nn.sigmoid(",
        "s = nn.hard_sigmoid(",
        [B + "test_squeeze_excite.py"],
    ),
    m(
        "bn_momentum_flax_default",
        "jaxcnn/layers.py",
        "momentum: float = declare(UNIT_INTERVAL, 0.9)",
        "momentum: float = declare(UNIT_INTERVAL, 0.99)",
        BLOCK_TESTS + ["tests/interop/test_torchvision_parity.py"],
    ),
    # ---- regularizers ----------------------------------------------------------------------
    m("sd_mask_not_inverted", SD, "if scale_by_keep else 1.0", "if not scale_by_keep else 1.0", SD_TESTS),
    m("sd_paper_test_rule_scale", SD, "y = y * p\n", "y = y * (1 - p)\n", SD_TESTS),
    m("sd_paper_schedule_off_by_one", SD, "for l in range(1, n + 1))", "for l in range(0, n))", SD_TESTS),
    m("sd_timm_schedule_divides_by_n", SD, "1.0 - r * i / (n - 1) if n > 1", "1.0 - r * i / n if n > 1", SD_TESTS),
    m(
        "sd_residual_row_mask_per_element",
        SD,
        'shape = (x.shape[0],) + (1,) * (x.ndim - 1) if mode == "row"',
        'shape = x.shape if mode == "row"',
        SD_TESTS,
    ),
    m(
        "dropblock_gamma_uses_h_twice",
        DB,
        "(h * w) / ((h - bh + 1) * (w - bw + 1))",
        "(h * w) / ((h - bh + 1) * (h - bh + 1))",
        DB_TESTS,
    ),
    m("dropblock_always_shared_mask", DB, "(n, nh, nw, c if per_channel else 1)", "(n, nh, nw, 1)", DB_TESTS),
    m("dropblock_everywhere_even_centring", DB, "else (size, b // 2)", "else (size, (b - 1) // 2)", DB_TESTS),
    m("dropblock_schedule_overshoots", DB, "/ total, 0.0, 1.0)", "/ total, 0.0, 2.0)", DB_TESTS),
    m(
        "cutout_last_column_never_centre",
        CO,
        "jax.random.randint(key_x, (n, 1), 0, w)",
        "jax.random.randint(key_x, (n, 1), 0, w - 1)",
        CO_TESTS,
    ),
    m("cutout_side_plus_one", CO, "(rows < top + size)", "(rows <= top + size)", CO_TESTS),
    # ---- upsample --------------------------------------------------------------------------
    m(
        "pixel_shuffle_tf_order",
        "jaxcnn/upsample/subpixel.py",
        "x = x.reshape(n, h, w, c, r, r)",
        "x = x.reshape(n, h, w, r, r, c)",
        [U + "test_pixel_shuffle.py"],
    ),
    m(
        "icnr_tile_not_repeat",
        "jaxcnn/upsample/subpixel.py",
        "jnp.repeat(base, r * r, axis=-1)",
        "jnp.tile(base, (1, 1, 1, r * r))",
        [U + "test_pixel_shuffle.py"],
    ),
    m(
        "conv_transpose_drops_output_padding",
        "jaxcnn/upsample/transposed.py",
        "+ di * (k - 1) + opi + 1",
        "+ di * (k - 1) + 1",
        [U + "test_conv_transpose.py"],
    ),
    m(
        "conv_transpose_fan_in_from_input",
        "jaxcnn/upsample/transposed.py",
        "fan_in = self.features // self.groups * kh * kw",
        "fan_in = y.shape[-1] // self.groups * kh * kw",
        [U + "test_conv_transpose.py", U + "test_conv_transpose_torch.py"],
    ),
    m(
        "unpool_size_ignores_padding",
        "jaxcnn/upsample/unpool.py",
        "(n - 1) * si - 2 * pi + ki",
        "(n - 1) * si + ki",
        [U + "test_unpool_padding.py", U + "test_unpool.py"],
    ),
    m(
        "interp_nearest_exact_no_half",
        "jaxcnn/upsample/interpolate.py",
        '(_F32(0.5) if mode == "nearest-exact" else _F32(0))',
        "_F32(0)",
        [U + "test_interpolate.py"],
    ),
    m(
        "interp_bilinear_align_corners_off",
        "jaxcnn/upsample/interpolate.py",
        "return (s * dst).astype(_F32)",
        "return (s * (dst + _F32(0.5)) - _F32(0.5)).astype(_F32)",
        [U + "test_interpolate.py"],
    ),
    # ---- identities ------------------------------------------------------------------------
    m(
        "zero_insertion_flip_rows_only",
        "jaxcnn/identities/zero_insertion.py",
        "flipped = kernel[::-1, ::-1]",
        "flipped = kernel[::-1, :]",
        ["tests/identities/test_five_forms.py"],
    ),
    m(
        "zero_insertion_strides_swapped",
        "jaxcnn/identities/zero_insertion.py",
        "out[:, :: stride[0], :: stride[1], :] = y",
        "out[:, :: stride[1], :: stride[0], :] = y",
        ["tests/identities/test_five_forms.py"],
    ),
    m(
        "closed_form_crop_off_by_one",
        "jaxcnn/identities/conv_grad.py",
        "return grad_pad[:, p_h : p_h + h_out,",
        "return grad_pad[:, p_w : p_w + h_out,",
        ["tests/identities/test_five_forms.py"],
    ),
    m(
        "resnext_split_wrong_slice",
        "jaxcnn/identities/resnext.py",
        "sl = lambda i: slice(i * d, (i + 1) * d)",
        "sl = lambda i: slice(i, i + d)",
        [B + "test_resnext.py"],
    ),
    # ---- analysis --------------------------------------------------------------------------
    m(
        "macs_ignore_lhs_dilation",
        "jaxcnn/analysis/complexity.py",
        '* kernel // int(np.prod(eqn.params["lhs_dilation"]))',
        "* kernel",
        ["tests/analysis/test_complexity.py"],
    ),
    m(
        "macs_dense_counts_output_only",
        "jaxcnn/analysis/complexity.py",
        "return out * int(np.prod([lhs[d] for d in lc]))",
        "return out",
        ["tests/analysis/test_complexity.py"],
    ),
    m(
        "rf_window_ignores_dilation",
        "jaxcnn/analysis/_field.py",
        "taps = [i * stride - pad_lo + t * dilation for t in range(k)]",
        "taps = [i * stride - pad_lo + t for t in range(k)]",
        ["tests/analysis/test_receptive_field.py"],
    ),
    # ---- train -----------------------------------------------------------------------------
    m(
        "label_smoothing_ignored",
        STEPS,
        "jax.nn.one_hot(labels, num_classes), label_smoothing)",
        "jax.nn.one_hot(labels, num_classes), 0.0)",
        STEP_TESTS,
    ),
    m("nonfinite_not_skipped", STEPS, "jnp.where(ok, new, old)", "jnp.where(True, new, old)", STEP_TESTS),
    m("dropout_key_ignores_step", STEPS, "base = jax.random.fold_in(rng, step)", "base = rng", STEP_TESTS),
    m("psnr_20_log10", STEPS, "-10.0 * jnp.log10(", "-20.0 * jnp.log10(", STEP_TESTS),
    m(
        "weight_decay_on_bn_scale",
        "jaxcnn/train/state.py",
        'getattr(path[-1], "key", None) == "kernel"',
        'getattr(path[-1], "key", None) != "bias"',
        STEP_TESTS,
    ),
    m(
        "eval_sums_pmean",
        STEPS,
        "sums = jax.lax.psum(sums, axis_name)",
        "sums = jax.lax.pmean(sums, axis_name)",
        STEP_TESTS,
    ),
    # ---- interop ---------------------------------------------------------------------------
    m(
        "interop_conv_kernel_hw_swapped",
        "jaxcnn/interop/keymaps.py",
        "lambda a: a.transpose(2, 3, 1, 0)",
        "lambda a: a.transpose(3, 2, 1, 0)",
        ["tests/interop/test_torchvision_parity.py"],
    ),
    m(
        "interop_linear_reshape_not_transpose",
        "jaxcnn/interop/keymaps.py",
        "(lambda a: a.T, ",
        "(lambda a: a.reshape(a.shape[::-1]), ",
        ["tests/interop/test_torchvision_parity.py"],
    ),
]
