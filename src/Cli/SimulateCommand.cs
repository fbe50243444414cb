using System.CommandLine;
using Microsoft.Extensions.Logging;
using Tomalign.Core;
using Tomalign.Core.Reporting;
using Tomalign.Core.Simulation;

namespace Tomalign.Cli;

internal static partial class Commands
{
    private static Command Simulate(TextWriter stdout, TextWriter stderr)
    {
        var d = new SimulationOptions();
        var output = new Option<string>("--out", "-o") { Description = "Folder to write the series and its truth into.", Required = true };
        var name = new Option<string>("--name") { Description = "Base name of the files.", DefaultValueFactory = _ => "sim" };
        var size = new Option<int>("--size") { Description = "Image width and height in pixels.", DefaultValueFactory = _ => d.Nx };
        var tiltMin = new Option<double>("--tilt-min") { Description = "First nominal tilt (degrees).", DefaultValueFactory = _ => d.TiltMin };
        var tiltMax = new Option<double>("--tilt-max") { Description = "Last nominal tilt (degrees).", DefaultValueFactory = _ => d.TiltMax };
        var tiltStep = new Option<double>("--tilt-step") { Description = "Tilt increment (degrees).", DefaultValueFactory = _ => d.TiltStep };
        var axis = new Option<double>("--tilt-axis") { Description = "Tilt-axis angle in the raw image, degrees counter-clockwise from +Y (IMOD's rotation angle).", DefaultValueFactory = _ => d.TiltAxisDegrees };
        var thickness = new Option<double?>("--thickness") { Description = "Specimen thickness in pixels (default 120 at 512 px, scaled with --size below that)." };
        var beads = new Option<int?>("--beads") { Description = "Number of gold beads (default 20 at 512 px, fewer on smaller images)." };
        var beadRadius = new Option<double?>("--bead-radius") { Description = "Bead radius in pixels (default 5 at 512 px)." };
        var blobs = new Option<int>("--blobs") { Description = "Number of Gaussian blobs (specimen texture); -1: automatic (one per 500 px² of specimen).", DefaultValueFactory = _ => -1 };
        var dose = new Option<double>("--dose") { Description = "Electrons per pixel per view (0: no shot noise).", DefaultValueFactory = _ => d.DoseElectronsPerPixel };
        var pixel = new Option<double>("--pixel-size") { Description = "Pixel size written to the header, Å.", DefaultValueFactory = _ => 2.0 };
        var drift = new Option<double?>("--drift") { Description = "SD of the per-view step of the shift random walk, pixels per axis (default 2 at 512 px, scaled below that)." };
        var rotJitter = new Option<double>("--rotation-jitter") { Description = "SD of the per-view tilt-axis angle error (degrees).", DefaultValueFactory = _ => d.RotationJitterDegrees };
        var magJitter = new Option<double>("--mag-jitter") { Description = "SD of the per-view magnification (relative; 0.005 = 0.5 %).", DefaultValueFactory = _ => d.MagnificationJitter };
        var tiltError = new Option<double>("--tilt-error") { Description = "SD of the true tilt about the nominal one (degrees).", DefaultValueFactory = _ => d.TiltErrorDegrees };
        var texture = new Option<double>("--texture") { Description = "Mean blob amplitude (specimen texture contrast, absorption per pixel at a blob centre); 0: no texture.", DefaultValueFactory = _ => d.BlobDensity };
        var beadDensity = new Option<double>("--bead-density") { Description = "Bead absorption per pixel of path (contrast of the gold).", DefaultValueFactory = _ => d.BeadDensity };
        var slabDensity = new Option<double>("--slab-density") { Description = "Uniform absorption of the slab per pixel of path.", DefaultValueFactory = _ => d.SlabDensity };
        var localWarp = new Option<double>("--local-warp") { Description = "A known local warp: projections move by up to 2× this many pixels at the field's corners at the largest tilt, by a local rotation and scale that change across the field (x² − y², 2xy); 0: none.", DefaultValueFactory = _ => 0 };
        var oneSurface = new Option<bool>("--one-surface") { Description = "All beads on the top surface (default: alternating top and bottom)." };
        var style = new Option<string>("--style") { Description = "Style of series (what makes it hard): " + string.Join(", ", SimulationZoo.Styles.Select(s => s.Name)) +
            ". The other options, where given, override the style's values.", DefaultValueFactory = _ => "default" };
        var seed = new Option<int>("--seed") { Description = "Random seed: the same seed gives the same series.", DefaultValueFactory = _ => d.Seed };
        var cmd = new Command("simulate",
            "Simulate a tilt series with known truth: textured slab with gold beads, projected analytically, with shot noise and " +
            "per-view shift, rotation, magnification and tilt errors. Writes NAME.mrc, NAME.rawtlt (nominal), and the truth: " +
            "NAME.truth.tlt, NAME.truth.xf (aligns the raw stack), NAME.beads.txt, NAME.truth.json (NAME.xf and NAME.tlt are left to `align`).")
        { output, name, size, tiltMin, tiltMax, tiltStep, axis, thickness, beads, beadRadius, blobs, dose, pixel, drift, rotJitter, magJitter, tiltError, texture, beadDensity, slabDensity, localWarp, oneSurface, style, seed };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            string dir = p.GetValue(output)!, baseName = p.GetValue(name)!;
            SimulationZoo.Style chosen;
            try { chosen = SimulationZoo.Get(p.GetValue(style)!); }
            catch (ArgumentException e) { throw new TomalignInputException(null, e.Message, "give --style one of the names listed"); }
            var scaled = chosen.Apply(SimulationOptions.ForSize(p.GetValue(size)) with { Seed = p.GetValue(seed) });
            // An option the user gave overrides the style; one left at its default keeps the style's value.
            T Pick<T>(Option<T> option, T styleValue) => p.GetResult(option) is { Implicit: false } ? p.GetValue(option)! : styleValue;
            var options = scaled with
            {
                TiltMin = Pick(tiltMin, scaled.TiltMin), TiltMax = Pick(tiltMax, scaled.TiltMax), TiltStep = Pick(tiltStep, scaled.TiltStep),
                TiltAxisDegrees = Pick(axis, scaled.TiltAxisDegrees), ThicknessPixels = p.GetValue(thickness) ?? scaled.ThicknessPixels,
                BeadCount = p.GetValue(beads) ?? scaled.BeadCount, BeadRadiusPixels = p.GetValue(beadRadius) ?? scaled.BeadRadiusPixels,
                BlobCount = Pick(blobs, scaled.BlobCount), DoseElectronsPerPixel = Pick(dose, scaled.DoseElectronsPerPixel),
                ShiftWalkSigmaPixels = p.GetValue(drift) ?? scaled.ShiftWalkSigmaPixels,
                RotationJitterDegrees = Pick(rotJitter, scaled.RotationJitterDegrees), MagnificationJitter = Pick(magJitter, scaled.MagnificationJitter),
                TiltErrorDegrees = Pick(tiltError, scaled.TiltErrorDegrees), BlobDensity = Pick(texture, scaled.BlobDensity),
                LocalWarpPixels = Pick(localWarp, scaled.LocalWarpPixels),
                BeadDensity = Pick(beadDensity, scaled.BeadDensity), SlabDensity = Pick(slabDensity, scaled.SlabDensity),
                TwoSurfaces = p.GetValue(oneSurface) ? false : scaled.TwoSurfaces,
            };
            var report = new RunReport("simulate", Environment.GetCommandLineArgs().Skip(1)) { Device = "cpu (managed)", Cancel = Cancellation };
            var series = report.Stage("simulate", () => RunSimulator(options, ctx));
            var files = report.Stage("write", () => SimulationFiles.Write(series, dir, baseName, p.GetValue(pixel)));
            report.Outputs.AddRange(files.All);
            report.Results["views"] = series.Raw.Nz;
            report.Results["size"] = new[] { series.Raw.Nx, series.Raw.Ny };
            report.Results["beads"] = series.Beads.Length;
            report.Write(Path.Combine(dir, $"{baseName}.simulate.json"));
            ctx.Log.LogInformation("Simulated {Nz} views of {Nx}×{Ny} into {Dir} in {Seconds:F1} s", series.Raw.Nz, series.Raw.Nx, series.Raw.Ny, dir, report.TotalSeconds);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>Runs the simulator; options it cannot honour become one input error naming the fix.</summary>
    internal static SimulatedSeries RunSimulator(SimulationOptions options, CliContext ctx)
    {
        try
        {
            options.Validate();
            return new TiltSeriesSimulator().Simulate(options, ctx.Progress("simulate"));
        }
        catch (ArgumentException e)
        {
            throw new TomalignInputException(null, e.Message.Replace(" (Parameter 'o')", ""),
                "change the simulate options (see tomalign simulate --help)");
        }
    }
}
