package io.lockstep.models.torch;

import java.util.List;

/**
 * Implemented by a layer configuration of Lockstep's own (the Vision Transformer layers, for example)
 * to say which PyTorch tensor each of its parameters comes from. Built-in DL4J layers are described in
 * {@link TorchLayouts} instead.
 */
public interface TorchMapped {
    /** One entry per DL4J parameter key of the layer, in any order. */
    List<TorchLayouts.TorchTensor> torchTensors();
}
