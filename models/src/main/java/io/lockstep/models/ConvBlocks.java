package io.lockstep.models;

import org.nd4j.linalg.activations.Activation;

/**
 * The convolution, normalization, activation sequences of the residual networks, honouring
 * {@link ModelOptions#normalization()}: with BatchNorm the convolution has no bias (the BatchNorm's
 * beta replaces it, as in torchvision and the ResNet paper); without, the convolution gets a bias
 * and the ReLU is fused into it.
 */
final class ConvBlocks {
    private ConvBlocks() {
    }

    static Node convNormRelu(NetworkBuilder b, String convName, String normName, String reluName, Node in,
                             int filters, int kernel, int stride, int padding) {
        if (!b.batchNormalization()) {
            return b.conv(convName, in, filters, kernel, stride, padding, true, Activation.RELU);
        }
        Node x = b.conv(convName, in, filters, kernel, stride, padding, false, Activation.IDENTITY);
        return b.relu(reluName, b.batchNorm(normName, x));
    }

    static Node convNorm(NetworkBuilder b, String convName, String normName, Node in,
                         int filters, int kernel, int stride, int padding) {
        if (!b.batchNormalization()) {
            return b.conv(convName, in, filters, kernel, stride, padding, true, Activation.IDENTITY);
        }
        Node x = b.conv(convName, in, filters, kernel, stride, padding, false, Activation.IDENTITY);
        return b.batchNorm(normName, x);
    }
}
