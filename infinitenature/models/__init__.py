"""Networks: StyleGAN2 layers, the CoModGAN generator (refiner), the discriminator, the official checkpoint loader."""

from .discriminator import Discriminator, DiscriminatorConfig
from .generator import CoModGenerator, GeneratorConfig, stage_channels
from .layers import (
    Blur,
    ConvLayer,
    EqualConv2d,
    EqualLinear,
    FusedLeakyReLU,
    ModulatedConv2d,
    NoiseInjection,
    PixelNorm,
    StyledConv,
    ToRGB,
    Upsample,
    fused_leaky_relu,
    make_kernel,
)
from .official import load_official_generator, official_config
from .patch_discriminator import PatchDiscriminator, PatchDiscriminatorConfig

__all__ = [
    "GeneratorConfig",
    "CoModGenerator",
    "DiscriminatorConfig",
    "Discriminator",
    "PatchDiscriminatorConfig",
    "PatchDiscriminator",
    "load_official_generator",
    "official_config",
    "stage_channels",
    "make_kernel",
    "fused_leaky_relu",
    "PixelNorm",
    "EqualLinear",
    "FusedLeakyReLU",
    "EqualConv2d",
    "Blur",
    "Upsample",
    "ConvLayer",
    "ModulatedConv2d",
    "NoiseInjection",
    "StyledConv",
    "ToRGB",
]
