package io.lockstep.models;

/**
 * A vertex of a graph under construction together with the shape of its activations (channels,
 * height, width, batch dimension omitted). Dense activations have height and width 1. Immutable.
 */
record Node(String name, int channels, int height, int width) {

    long features() {
        return (long) channels * height * width;
    }

    String shape() {
        return channels + "x" + height + "x" + width;
    }
}
