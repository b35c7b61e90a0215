package io.lockstep.models;

import org.deeplearning4j.nn.conf.graph.MergeVertex;

/**
 * DL4J's {@link MergeVertex} concatenating along a given axis, that keeps the axis when the
 * configuration is cloned: DL4J 1.0.0-M2.1's {@code MergeVertex.clone()} returns a vertex with the
 * default axis 1, so an NHWC graph whose configuration is cloned (as the worker's BatchNorm swap
 * does) would concatenate along rows instead of channels. Used for NHWC builds only; NCHW builds keep
 * DL4J's own vertex, whose default axis is the channel axis.
 */
public final class AxisMergeVertex extends MergeVertex {
    private static final long serialVersionUID = 1L;

    /** For JSON deserialization; the axis is then set from the saved field. */
    public AxisMergeVertex() {
    }

    public AxisMergeVertex(int axis) {
        setMergeAxis(axis);
    }

    @Override
    public AxisMergeVertex clone() {
        return new AxisMergeVertex(getMergeAxis());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AxisMergeVertex m && m.getMergeAxis() == getMergeAxis();
    }

    @Override
    public int hashCode() {
        return 31 * AxisMergeVertex.class.hashCode() + getMergeAxis();
    }
}
