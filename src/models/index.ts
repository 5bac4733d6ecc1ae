// Encoders SparK can pretrain: timm-layout ResNets, official-layout ConvNeXts, their registry, and the
// encoder contract any other CNN implements to be pretrained.
export * from './contract.js';
export * from './resnet.js';
export * from './convnext.js';
export * from './registry.js';
export * from './layer_decay.js';
export * from './squeeze_excite.js';
