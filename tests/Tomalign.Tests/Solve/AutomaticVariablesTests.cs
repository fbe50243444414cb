using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Solve;

/// <summary>
/// Automatic tilt and magnification with few landmarks per view (below <see cref="SolveOptions.PerViewLandmarksPerView"/>):
/// groups, or per-view variables where the landmarks ask for them (Mallows' C_p). Known truth: per-view tilt and
/// magnification errors that groups cannot follow, and a series without view errors that groups model exactly.
/// </summary>
public class AutomaticVariablesTests(ITestOutputHelper output)
{
    private static SolveOptions Options(VariableOption tilt, VariableOption mag) => new()
    {
        Rotation = VariableOption.PerView, Tilt = tilt, Magnification = mag, TiltPrior = TiltPriorOption.Off, Robust = true,
    };

    [Theory]
    [InlineData(3)]
    [InlineData(11)]
    public void PerViewErrorsThatGroupsCannotFollowGetPerViewVariables(int seed)
    {
        // 8 landmarks over 41 views: 6–8 per view, below the count at which auto always goes per view.
        var sim = SimulatedLandmarks.Create(seed, landmarks: 8, views: 41, sigma: 0.3, missingFraction: 0.1);
        Assert.True(SolveOptions.LandmarksPerView(sim.Input()) < SolveOptions.PerViewLandmarksPerView);
        var solver = new BundleSolver(new CpuBundleNormalEquations());
        var auto = solver.Solve(sim.Input(), Options(VariableOption.Auto, VariableOption.Auto));
        var grouped = solver.Solve(sim.Input(), Options(VariableOption.Grouped(5), VariableOption.Grouped(4)));
        var (ea, eg) = (sim.Compare(auto), sim.Compare(grouped));
        output.WriteLine($"auto: {ea}\ngrouped: {eg}\n{string.Join("\n", auto.Notes)}");
        Assert.Equal(VariableMode.PerView, auto.Options!.Tilt.Mode);
        Assert.Equal(VariableMode.PerView, auto.Options.Magnification.Mode);
        Assert.Contains(auto.Notes, n => n.StartsWith("variables: per view", StringComparison.Ordinal));
        // Against the truth: the per-view solve follows the 0.3° tilt and 0.2 % magnification errors that groups average out.
        Assert.True(ea.TiltRms < 0.6 * eg.TiltRms, $"tilt RMS {ea.TiltRms:F3}° auto against {eg.TiltRms:F3}° grouped");
        Assert.True(ea.MagRms < 0.6 * eg.MagRms, $"magnification RMS {ea.MagRms:F5} auto against {eg.MagRms:F5} grouped");
        Assert.True(ea.ShiftRms < eg.ShiftRms, $"shift RMS {ea.ShiftRms:F3} px auto against {eg.ShiftRms:F3} px grouped");
    }

    [Theory]
    [InlineData(3)]
    [InlineData(11)]
    public void WithoutViewErrorsTheGroupsAreKept(int seed)
    {
        // Nominal tilts and unit magnification: per-view variables would only fit the noise.
        var sim = SimulatedLandmarks.Create(seed, landmarks: 8, views: 41, sigma: 0.5, missingFraction: 0.1, viewErrors: false);
        var solver = new BundleSolver(new CpuBundleNormalEquations());
        var auto = solver.Solve(sim.Input(), Options(VariableOption.Auto, VariableOption.Auto));
        output.WriteLine(string.Join("\n", auto.Notes));
        Assert.Equal(VariableMode.Grouped, auto.Options!.Tilt.Mode);
        Assert.Equal(VariableMode.Grouped, auto.Options.Magnification.Mode);
        Assert.Contains(auto.Notes, n => n.StartsWith("variables: grouped", StringComparison.Ordinal));
    }
}
