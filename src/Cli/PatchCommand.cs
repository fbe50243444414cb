using System.CommandLine;
using Microsoft.Extensions.Logging;
using Tomalign.Core;
using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Formats;
using Tomalign.Core.Imaging;
using Tomalign.Core.Patches;
using Tomalign.Core.Reporting;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>The stack prealigned with the given .prexg (one line per view), or as it is without one.</summary>
    internal static ImageStack PrealignIfAsked(string? prexgPath, string stackPath, ImageStack data, IComputeBackend backend, RunReport report)
    {
        if (prexgPath is null) return data;
        report.Inputs.Add(Path.GetFullPath(prexgPath));
        var xfs = TiltSeriesFiles.ReadXfFor(prexgPath, stackPath, data.Nz);
        return report.Stage("prealign", () => Prealign(backend, data, xfs));
    }

    /// <summary>NAME.fid (IMOD model, z = view) and NAME.fid.txt (landmark x y view, 1-based landmarks), both added to the report.</summary>
    internal static string WriteLandmarks(IReadOnlyList<Tomalign.Core.Solve.LandmarkObservation> observations, ImageStack data, string dir, string baseName, RunReport report)
    {
        string fid = Path.Combine(dir, baseName + ".fid"), text = Path.Combine(dir, baseName + ".fid.txt");
        ImodModel.FromObservations(observations, data.Nx, data.Ny, data.Nz).Write(fid);
        Tomalign.Core.IO.AtomicFile.WriteAllLines(text, observations.Select(o => FormattableString.Invariant($"{o.Landmark + 1} {o.X:F3} {o.Y:F3} {o.View}")));
        report.Outputs.AddRange([Path.GetFullPath(fid), Path.GetFullPath(text)]);
        return fid;
    }

    /// <summary>
    /// Markerless landmarks (IMOD tiltxcorr patch tracking): tracks a grid of patches through the
    /// prealigned series and writes them as an IMOD fiducial model for `tomalign solve`.
    /// </summary>
    private static Command Patch(TextWriter stdout, TextWriter stderr)
    {
        var d = new PatchTrackOptions();
        var stack = new Argument<string>("STACK") { Description = "The tilt series, MRC or a multi-page TIFF stack: the raw stack with --prexg, or an already prealigned stack without it." };
        var angles = new Option<string>("--angles") { Description = "Tilt angles, one per view (.rawtlt/.tlt); optional with --mdoc, an mdoc beside the stack, or angles in the MRC extended header." };
        var mdoc = MdocOption();
        var prexg = new Option<string?>("--prexg") { Description = "Coarse alignment of the raw stack (from `tomalign coarse`); the stack is prealigned with it in memory." };
        var axis = new Option<double>("--tilt-axis") { Description = "Tilt-axis angle, degrees counter-clockwise from +Y (IMOD's rotation angle).", Required = true };
        var size = new Option<int>("--patch-size") { Description = "Patch edge in unbinned pixels; 0: from the data (the smallest whose correlation peaks stand at least 2× above their null correlation's).", DefaultValueFactory = _ => 0 };
        var overlap = new Option<double>("--overlap") { Description = "Fraction by which neighbouring patches overlap.", DefaultValueFactory = _ => d.Overlap };
        var bin = new Option<int>("--bin") { Description = "Binning for the correlation; 0: from the data (the views' spectral SNR), at least the binning to about 256 pixels.", DefaultValueFactory = _ => 0 };
        var piece = new Option<int>("--piece-length") { Description = "Cut tracks into pieces of this many views (IMOD LengthAndOverlap); 0 (the default): whole tracks.", DefaultValueFactory = _ => d.PieceLength };
        var pieceOverlap = new Option<int>("--piece-overlap") { Description = "Views shared by consecutive pieces.", DefaultValueFactory = _ => d.PieceOverlap };
        var name = new Option<string?>("--name") { Description = "Base name of the outputs (default: the stack's name)." };
        var output = new Option<string>("--out", "-o") { Description = "Folder for NAME.fid, NAME.fid.txt and NAME.patch.json.", Required = true };
        var excludeViews = ExcludeViewsOption("not tracked, as tiltxcorr's SkipViews: NAME.fid has no points on them (leave them out of the tomogram too).");
        var device = DeviceOption();
        var cmd = new Command("patch",
            "Markerless landmarks by patch tracking (IMOD tiltxcorr -SizeOfPatchesXandY): a grid of patches on the view nearest zero tilt, " +
            "followed view by view with cosine-stretched correlation, cut into overlapping pieces; writes NAME.fid (IMOD model, " +
            "prealigned-stack coordinates, z = view) for `tomalign solve --model NAME.fid --prexg ...`.")
        { stack, angles, mdoc, prexg, axis, size, overlap, bin, piece, pieceOverlap, excludeViews, name, output, device };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            string input = p.GetValue(stack)!, anglesPath = p.GetValue(angles) ?? "", dir = p.GetValue(output)!;
            string baseName = p.GetValue(name) ?? Path.GetFileNameWithoutExtension(input);
            RequireBaseName(baseName);
            var options = d with
            {
                TiltAxisDegrees = p.GetValue(axis), PatchSize = p.GetValue(size), Overlap = p.GetValue(overlap), Bin = p.GetValue(bin),
                PieceLength = p.GetValue(piece), PieceOverlap = p.GetValue(pieceOverlap),
            };
            try { options.Validate(); }
            catch (ArgumentException e) { throw new TomalignInputException(null, e.Message, "check the patch options (tomalign patch --help)"); }

            var report = new RunReport("patch", Environment.GetCommandLineArgs().Skip(1)) { Cancel = Cancellation };
            report.Inputs.AddRange(InputPaths(input, anglesPath, p.GetValue(mdoc)));
            var (data, tilts) = report.Stage("read", () => ReadSeries(input, anglesPath, ctx.Progress("read"), p.GetValue(mdoc), ctx, report));
            using var backend = Backends.Create(ParseDevice(p.GetValue(device)!), ctx);
            report.Device = backend.Description;
            data = PrealignIfAsked(p.GetValue(prexg), input, data, backend, report);
            CheckPatchGrid(input, data.Nx, data.Ny, options, "use a smaller --patch-size or --bin for views this size");
            int[] excluded = ExcludedViews(p.GetValue(excludeViews), data.Nz);
            var (kept, keptTilts, views) = KeepViews(data, tilts, excluded, input);
            var result = report.Stage("track", () => new PatchTracker(backend.PairCorrelator, ctx.Log).Track(kept, keptTilts, options, ctx.Progress("patch")));
            if (result.Landmarks == 0)
                throw new TomalignInputException(input, "no patch could be tracked over enough views",
                    "check --tilt-axis and the .prexg (the stack must be prealigned), or try larger patches");

            Directory.CreateDirectory(dir);
            string fid = WriteLandmarks(ToWholeStack(result.Observations, views), data, dir, baseName, report);
            report.Warnings.AddRange(result.Warnings);
            ReportExcluded(report, excluded);
            report.Results["patches"] = result.Patches;
            report.Results["featurelessPatches"] = result.FeaturelessPatches;
            report.Results["landmarks"] = result.Landmarks;
            report.Results["observations"] = result.Observations.Count;
            report.Results["patchSize"] = result.PatchSize;
            report.Results["bin"] = result.Bin;
            report.Results["referenceView"] = views[result.ReferenceView];
            report.Results["medianPeakStrength"] = result.MedianStrength;
            report.Results["weakPatches"] = result.WeakPatches;
            report.Results["medianPeakSnr"] = result.MedianPeakSnr;
            report.Results["linkResidualPixels"] = double.IsFinite(result.LinkResidualPixels) ? result.LinkResidualPixels : null;
            report.Write(Path.Combine(dir, baseName + ".patch.json"));
            ctx.Out.WriteLine($"Tracked {result.Patches} patches into {result.Landmarks} landmark pieces, {result.Observations.Count} observations: {fid}");
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>The fix for views too small for markerless alignment.</summary>
    internal const string MarkerlessSizeFix = "markerless alignment needs views of at least about 150 pixels; use gold beads (--bead-diameter) on smaller views";

    /// <summary>
    /// Checks, before the work, that patches of <paramref name="options"/> fit views of <paramref name="nx"/>×<paramref name="ny"/>
    /// (at least one patch): an input error naming <paramref name="input"/> and <paramref name="fix"/> otherwise.
    /// </summary>
    internal static void CheckPatchGrid(string input, int nx, int ny, PatchTrackOptions options, string fix)
    {
        IReadOnlyList<(double X, double Y)> centres;
        try
        {
            options.Validate();
            centres = PatchTracker.Grid(nx, ny, options).Centres;
        }
        catch (ArgumentException e)
        {
            throw new TomalignInputException(input, e.Message, fix);
        }
        if (centres.Count == 0)
            throw new TomalignInputException(input, $"no patch fits its {nx}×{ny} views", fix);
    }
}
