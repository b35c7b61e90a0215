package io.lockstep.api;

import java.util.List;

/**
 * Accuracy, per-class accuracy and confusion matrix (row = true class, column = predicted), from
 * {@link LockstepModel#evaluate} or {@code lockstep evaluate}.
 */
public record Evaluation(long[][] confusion) {

    public long total() {
        long total = 0;
        for (long[] row : confusion) {
            for (long c : row) {
                total += c;
            }
        }
        return total;
    }

    public double accuracy() {
        long correct = 0;
        for (int c = 0; c < confusion.length; c++) {
            correct += confusion[c][c];
        }
        return total() == 0 ? Double.NaN : (double) correct / total();
    }

    public double classAccuracy(int c) {
        long row = 0;
        for (long v : confusion[c]) {
            row += v;
        }
        return row == 0 ? Double.NaN : (double) confusion[c][c] / row;
    }

    public String report(List<String> classNames) {
        StringBuilder s = new StringBuilder();
        s.append(String.format("accuracy %.4f on %d test images%n%n", accuracy(), total()));
        s.append(String.format("%-20s %9s %8s%n", "class", "accuracy", "images"));
        for (int c = 0; c < confusion.length; c++) {
            long row = 0;
            for (long v : confusion[c]) {
                row += v;
            }
            s.append(String.format("%-20s %9.4f %8d%n", classNames.get(c), classAccuracy(c), row));
        }
        s.append(String.format("%nconfusion matrix (rows: true class, columns: predicted)%n%6s", ""));
        for (int c = 0; c < confusion.length; c++) {
            s.append(String.format("%7d", c));
        }
        s.append('\n');
        for (int r = 0; r < confusion.length; r++) {
            s.append(String.format("%6d", r));
            for (int c = 0; c < confusion.length; c++) {
                s.append(String.format("%7d", confusion[r][c]));
            }
            s.append('\n');
        }
        return s.toString();
    }
}
