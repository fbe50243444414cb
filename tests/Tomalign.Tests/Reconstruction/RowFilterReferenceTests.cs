using Tomalign.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Reconstruction;

/// <summary>
/// The managed row filter (CpuBackprojector.FilterRows, the twin of the device's row filter) against its definition,
/// computed here without an FFT: each line padded to <c>pad</c> samples (the right part of the padding holds the line's
/// last value, the rest, which wraps round to the line's start, its first value), circularly convolved with the filter
/// (a real, even spectrum of pad/2 + 1 weights, already divided by pad), and the first <c>width</c> samples kept.
/// The filter weights are random, so the check does not depend on the ramp filter's own values.
/// </summary>
public sealed class RowFilterReferenceTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1, 37, 80, 5)]   // odd padding (43): 21 samples of the last value, 22 of the first
    [InlineData(2, 32, 64, 3)]   // even padding
    [InlineData(3, 30, 30, 4)]   // no padding at all
    [InlineData(4, 25, 27, 2)]   // an odd padded length and one sample of each end value
    public void FilterRowsIsTheCircularConvolutionOfTheEdgePaddedLine(int seed, int width, int pad, int count)
    {
        var rng = new Random(seed);
        int half = pad / 2 + 1;
        var filter = Enumerable.Range(0, half).Select(_ => (float)(rng.NextDouble() * 2 - 0.5) / pad).ToArray();
        // Lines with different end values, so a wrong padding value shows.
        var lines = Enumerable.Range(0, count * width).Select(i => (float)(rng.NextDouble() * 2 - 1 + (i % width == 0 ? 3 : i % width == width - 1 ? -2 : 0))).ToArray();
        var filtered = new float[count * width];
        Array.Fill(filtered, float.NaN);
        new CpuBackprojector().FilterRows(lines, count, width, filter, pad, filtered);

        double worst = 0, scale = 0;
        for (int l = 0; l < count; l++)
        {
            var line = lines.AsSpan(l * width, width).ToArray();
            var expected = Reference(line, filter, pad);
            for (int x = 0; x < width; x++)
            {
                Assert.True(float.IsFinite(filtered[l * width + x]), $"line {l}, sample {x} not written");
                worst = Math.Max(worst, Math.Abs(filtered[l * width + x] - expected[x]));
                scale = Math.Max(scale, Math.Abs(expected[x]));
            }
        }
        output.WriteLine($"largest difference {worst:E2} against values up to {scale:F3}");
        Assert.True(scale > 0.1);
        Assert.True(worst <= 1e-5 * scale, $"largest difference {worst:E2} (values up to {scale:F3})");
    }

    /// <summary>The definition: pad, multiply by the even spectrum, transform back; naive DFTs in double.</summary>
    private static double[] Reference(float[] line, float[] filter, int pad)
    {
        int width = line.Length, extra = pad - width, right = extra / 2;
        var d = new double[pad];
        for (int n = 0; n < pad; n++) d[n] = n < width ? line[n] : n < width + right ? line[^1] : line[0];
        var re = new double[pad]; var im = new double[pad];
        for (int k = 0; k < pad; k++)
        {
            double h = filter[Math.Min(k, pad - k)];
            for (int n = 0; n < pad; n++)
            {
                double a = -2 * Math.PI * (long)k * n / pad;
                re[k] += d[n] * Math.Cos(a) * h; im[k] += d[n] * Math.Sin(a) * h;
            }
        }
        var y = new double[width];
        for (int n = 0; n < width; n++)
            for (int k = 0; k < pad; k++)
            {
                double a = 2 * Math.PI * (long)k * n / pad;
                y[n] += re[k] * Math.Cos(a) - im[k] * Math.Sin(a);
            }
        return y;
    }
}
