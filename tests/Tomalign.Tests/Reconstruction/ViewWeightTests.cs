using Tomalign.Core.Reconstruction;
using Xunit;

namespace Tomalign.Tests.Reconstruction;

/// <summary>
/// WBP's view weights (the trapezoid rule over the tilt angles): each view stands for half the angular gap to each
/// neighbour in angle order, an end view for the whole gap to its one neighbour, a lone view for π. Known answers worked
/// out by hand for unevenly spaced, unsorted tilts.
/// </summary>
[Trait("Category", "Correctness")]
public sealed class ViewWeightTests
{
    [Fact]
    public void EachViewWeighsHalfTheGapsToItsNeighboursInAngleOrder()
    {
        // Sorted: −60, −30, 0, 10, 40. Weights: −60 → 30 (its gap to −30), −30 → (0 + 60)/2 = 30, 0 → (10 + 30)/2 = 20,
        // 10 → (40 − 0)/2 = 20, 40 → 30 (its gap to 10). Given in another order, each weight goes with its own view.
        double[] tilts = [10, -60, 40, 0, -30];
        double[] expectedDegrees = [20, 30, 30, 20, 30];
        var w = Reconstructor.TrapezoidWeights(tilts);
        Assert.Equal(tilts.Length, w.Length);
        for (int i = 0; i < tilts.Length; i++)
            Assert.Equal(expectedDegrees[i] * Math.PI / 180, w[i], 6);
    }

    [Fact]
    public void EvenSpacingGivesEveryViewTheStep()
    {
        var tilts = Enumerable.Range(0, 41).Select(i => -60.0 + 3 * i).ToArray();
        Assert.All(Reconstructor.TrapezoidWeights(tilts), w => Assert.Equal(3 * Math.PI / 180, w, 6));
    }

    [Fact]
    public void TwoViewsAndOneView()
    {
        var two = Reconstructor.TrapezoidWeights([25.0, -5.0]);
        Assert.Equal(30 * Math.PI / 180, two[0], 6);
        Assert.Equal(30 * Math.PI / 180, two[1], 6);
        Assert.Equal((float)Math.PI, Reconstructor.TrapezoidWeights([12.0])[0]);
    }
}
