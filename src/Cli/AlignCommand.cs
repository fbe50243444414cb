using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Tomalign.Core;
using Tomalign.Core.Backend;
using Tomalign.Core.Beads;
using Tomalign.Core.Coarse;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Patches;
using Tomalign.Core.Refine;
using Tomalign.Core.Reporting;
using Tomalign.Core.Solve;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>What `align` produced: the files the next stage reads.</summary>
    internal sealed record AlignOutcome(string Prexg, string Fid, string Xf, string Tlt, SolveResult Solve, CoarseAlignResult? Coarse,
        double[] NominalTilts, double TiltAxis, int Width, int Height);

    /// <summary>
    /// coarse → landmarks (markerless patches, or gold beads) → solve, in one go: IMOD's etomo
    /// alignment steps, or AreTomo's alignment. Resumable: with --resume, a stage whose output
    /// already exists in --out is read back instead of being redone.
    /// </summary>
    private static Command Align(TextWriter stdout, TextWriter stderr)
    {
        var stack = new Argument<string>("STACK") { Description = "The raw tilt series, MRC (.mrc/.st)." };
        var angles = new Option<string>("--angles") { Description = "Nominal tilt angles, one per view (.rawtlt).", Required = true };
        var axis = new Option<string>("--tilt-axis") { Description = "Tilt-axis angle in the raw image, degrees counter-clockwise from +Y (IMOD's rotation angle), or auto: searched by the coarse correlation (modulo 180°).", Required = true };
        var markerless = new Option<bool>("--markerless") { Description = "Landmarks from patch tracking (no gold beads)." };
        var beadDiameter = new Option<double?>("--bead-diameter") { Description = "Gold bead diameter in pixels: landmarks from bead tracking." };
        var beads = new Option<int>("--beads") { Description = "Number of beads to seed and track (with --bead-diameter).", DefaultValueFactory = _ => 25 };
        var (rotation, tilt, mag) = SolveVariableOptions();
        var level = LevelOption();
        var tiltPrior = TiltPriorOption();
        var resume = new Option<bool>("--resume") { Description = "Reuse the outputs of stages already in --out (NAME.prexg, NAME.fid)." };
        var axisProfiles = AxisProfilesOption();
        var twoSurfaces = new Option<bool>("--two-surfaces") { Description = "Beads: mark each bead's surface in NAME.fid (contour surface 1 = bottom, 2 = top, split at the largest height gap), as autofidseed -TwoSurfaces." };
        var name = new Option<string?>("--name") { Description = "Base name of the outputs (default: the stack's name)." };
        var output = new Option<string>("--out", "-o") { Description = "Folder for every output.", Required = true };
        var device = DeviceOption();
        var cmd = new Command("align",
            "Align a raw tilt series in one go: coarse (NAME.prexf/.prexg) → landmarks (--markerless: patch tracking; --bead-diameter: " +
            "gold beads) into NAME.fid → bundle-adjustment solve (NAME.xf, .tlt, .tltxf, .xtilt, .resid, fid.xyz, .solve.txt/.json, and AreTomo's NAME.aln). " +
            "`tomalign apply STACK --xf NAME.xf` then gives the aligned stack.")
        { stack, angles, axis, markerless, beadDiameter, beads, rotation, tilt, mag, tiltPrior, level, axisProfiles, resume, twoSurfaces, name, output, device };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            string input = p.GetValue(stack)!, anglesPath = p.GetValue(angles)!, dir = p.GetValue(output)!;
            string baseName = p.GetValue(name) ?? Path.GetFileNameWithoutExtension(input);
            bool isMarkerless = p.GetValue(markerless);
            double? diameter = p.GetValue(beadDiameter);
            RequireOneLandmarkKind(isMarkerless, diameter);
            var solveOptions = ParseSolveVariables(p, rotation, tilt, mag, level, tiltPrior);
            var report = new RunReport("align", Environment.GetCommandLineArgs().Skip(1)) { Cancel = Cancellation };
            using var backend = Backends.Create(ParseDevice(p.GetValue(device)!), ctx);
            report.Device = backend.Description;
            var outcome = RunAlign(ctx, report, backend, input, anglesPath, ParseTiltAxis(p.GetValue(axis)!), isMarkerless, diameter, p.GetValue(beads),
                solveOptions, dir, baseName, p.GetValue(resume), p.GetValue(twoSurfaces), p.GetValue(axisProfiles)!);
            WriteHtml(Path.Combine(dir, baseName + ".align.html"), report, outcome, []);
            report.Write(Path.Combine(dir, baseName + ".align.json"));
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Aligned {outcome.Solve.Views.Length} views: {outcome.Solve.ObservationCount} observations of {outcome.Solve.Landmarks.Length} landmarks, residual mean {outcome.Solve.Overall.Mean:F3} px (RMS {outcome.Solve.Overall.Rms:F3}); transforms {outcome.Xf}"));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>The solve's variable options of align and run: --rotation, --tilt, --mag.</summary>
    /// <summary>--axis-profiles: the refinement of rotation, scale and shift along the axis after the solve (<see cref="AxisProfileRefiner"/>).</summary>
    internal static Option<string> AxisProfilesOption() => new("--axis-profiles")
    {
        Description = "After the solve, refine each view's rotation, magnification and shift along the tilt axis against the view nearest 0° " +
            "from profiles along the axis: it removes the slow drifts of rotation and magnification that patch landmarks leave, where the " +
            "specimen is thin against the field (a thick one's parallax spoils the profiles). auto (the default): for --markerless, when the " +
            $"specimen's estimated thickness is at most 1/{AxisProfilesMaxThicknessFraction} of the field; on; off.",
        DefaultValueFactory = _ => "auto",
    };

    /// <summary>--axis-profiles auto refines when the estimated specimen thickness is at most the field's smaller side over this.</summary>
    internal const int AxisProfilesMaxThicknessFraction = 12;

    /// <summary>--axis-profiles as true (on), false (off) or null (auto: decided by the estimated thickness, for markerless landmarks).</summary>
    internal static bool? ParseAxisProfiles(string mode) => mode.Trim().ToLowerInvariant() switch
    {
        "auto" => null,
        "on" or "yes" or "true" => true,
        "off" or "no" or "false" => false,
        var m => throw new TomalignInputException(null, $"--axis-profiles {m} is not a choice", "use --axis-profiles auto, on or off"),
    };

    internal static (Option<string> Rotation, Option<string> Tilt, Option<string> Mag) SolveVariableOptions() => (
        new Option<string>("--rotation") { Description = "Solve: rotation variables (fixed, per-view, global, grouped:N, linear:N, auto).", DefaultValueFactory = _ => "per-view" },
        new Option<string>("--tilt") { Description = "Solve: tilt-angle variables; auto (the default): per view with ≥ 10 landmarks per view (markerless, many beads), else grouped:5.", DefaultValueFactory = _ => "auto" },
        new Option<string>("--mag") { Description = "Solve: magnification variables; auto (the default): per view with ≥ 10 landmarks per view, else grouped:4.", DefaultValueFactory = _ => "auto" });

    /// <summary>--tilt-prior of align and run.</summary>
    internal static Option<string> TiltPriorOption() => new("--tilt-prior")
    {
        Description = "Solve: tie the solved tilts to the nominal ones. auto (the default): free tilts are kept only where they fit the " +
                      "landmarks clearly better (the nominal tilts leave at least 2× the residual variance), else a Gaussian prior about " +
                      "the nominal tilts (SD 0.25° or 0.1°, the loosest that keeps them within 0.5° RMS) or fixed tilts; the choice is in the " +
                      "solve report. A number: a prior of that SD in degrees. off: no prior.",
        DefaultValueFactory = _ => "auto",
    };

    /// <summary>--level of align and run.</summary>
    internal static Option<bool> LevelOption() => new("--level")
    {
        Description = "Level the specimen: offset every tilt angle so that the plane of the solved landmarks is flat in the tomogram " +
                      "(tiltalign's angle offset; the x-axis tilt that would level it about X is reported, not applied).",
    };

    /// <summary>Robust solve options from the values of <see cref="SolveVariableOptions"/> and <see cref="LevelOption"/>.</summary>
    internal static SolveOptions ParseSolveVariables(ParseResult p, Option<string> rotation, Option<string> tilt, Option<string> mag, Option<bool>? level = null,
        Option<string>? tiltPrior = null) => new()
    {
        TiltPrior = tiltPrior is null ? Tomalign.Core.Solve.TiltPriorOption.Off : Tomalign.Core.Solve.TiltPriorOption.Parse(p.GetValue(tiltPrior)!, "--tilt-prior"),
        Rotation = VariableOption.Parse(p.GetValue(rotation)!, "--rotation"),
        Tilt = VariableOption.Parse(p.GetValue(tilt)!, "--tilt"),
        Magnification = VariableOption.Parse(p.GetValue(mag)!, "--mag"),
        Robust = true,
        Level = level is not null && p.GetValue(level),
    };

    /// <summary>The align stages, shared by `align`, `run` and `demo`.</summary>
    internal static AlignOutcome RunAlign(CliContext ctx, RunReport report, IComputeBackend backend, string input, string anglesPath,
        double? givenTiltAxis, bool markerless, double? beadDiameter, int beadCount, SolveOptions solveOptions, string dir, string baseName, bool resume,
        bool twoSurfaces = false, string axisProfiles = "auto")
    {
        bool? refineProfiles = ParseAxisProfiles(axisProfiles);
        var cancel = report.Cancel.CanBeCanceled ? report.Cancel : Cancellation;
        RequireBaseName(baseName);
        var (nx, ny, _) = Preflight.CheckSeries(input, anglesPath, dir);
        if (markerless) CheckPatchGrid(input, nx, ny, new PatchTrackOptions(), MarkerlessSizeFix);
        if (beadDiameter is { } bd && !(bd > 0))
            throw new TomalignInputException(null, $"--bead-diameter {bd} is not a size", "give the bead diameter in pixels, e.g. --bead-diameter 10");
        report.Inputs.AddRange([Path.GetFullPath(input), Path.GetFullPath(anglesPath)]);
        var (data, tilts) = report.Stage("read", () => ReadSeries(input, anglesPath, ctx.Progress("read")));
        double tiltAxis = ResolveTiltAxis(givenTiltAxis, backend.PairCorrelator, data, tilts, ctx, report);
        report.Results["tiltAxisDegrees"] = tiltAxis;
        Directory.CreateDirectory(dir);
        string P(string ext) => Path.Combine(dir, baseName + ext);

        // 1. Coarse.
        Xf[] prexg;
        CoarseAlignResult? coarse = null;
        if (resume && File.Exists(P(".prexg")))
        {
            prexg = TiltSeriesFiles.ReadXfFor(P(".prexg"), input, data.Nz);
            ctx.Log.LogInformation("resume: coarse alignment read from {File}", P(".prexg"));
        }
        else
        {
            var c = report.Stage("coarse", () => new CoarseAligner(backend.PairCorrelator, ctx.Log).Align(data, tilts, new CoarseAlignOptions { TiltAxisDegrees = tiltAxis }));
            coarse = c;
            prexg = c.Prexg;
            ImodText.WriteXf(P(".prexf"), c.Prexf);
            ImodText.WriteXf(P(".prexg"), c.Prexg);
            report.Outputs.AddRange([Path.GetFullPath(P(".prexf")), Path.GetFullPath(P(".prexg"))]);
            report.Warnings.AddRange(c.Warnings);
            report.Results["coarsePeakStrengths"] = c.Pairs.Select(r => r.Strength).ToArray();
        }

        // 2. Landmarks on the prealigned stack.
        List<LandmarkObservation> observations;
        ImageStack? prealigned = null;
        // One tracker for both bead passes: the second reuses the first's bead-model scores.
        var tracker = new BeadTracker(backend.TemplateCorrelator, ctx.Log);
        if (resume && File.Exists(P(".fid")))
        {
            observations = ImodModel.Read(P(".fid")).ToObservations();
            ctx.Log.LogInformation("resume: landmarks read from {File}", P(".fid"));
        }
        else
        {
            var pre = prealigned = report.Stage("prealign", () => Prealign(backend, data, prexg));
            observations = report.Stage("landmarks", () => Landmarks(ctx, report, backend, tracker, pre, tilts, tiltAxis, markerless, beadDiameter, beadCount, input));
            ImodModel.FromObservations(observations, data.Nx, data.Ny, data.Nz).Write(P(".fid"));
            report.Outputs.Add(Path.GetFullPath(P(".fid")));
        }

        // 3. Solve, combined with the prealignment; for beads, a second tracking pass with the solved model and a final solve.
        // Patch tracks are weighted whole (a track that slid off its feature is wrong throughout): at 1024²×61 0.72 → 0.65 px.
        if (markerless) solveOptions = solveOptions with { WeightWholeTracks = true };
        var solveInput = new SolveInput(observations, data.Nx, data.Ny, tilts, tiltAxis);
        var result = report.Stage("solve", () => new BundleSolver(backend.BundleNormalEquations, ctx.Log).Solve(solveInput, solveOptions));
        if (!markerless && prealigned is not null)
        {
            var options = new BeadTrackOptions { BeadDiameter = beadDiameter!.Value, Beads = beadCount, TiltAxisDegrees = tiltAxis };
            var first = new BeadTrackResult(observations, beadCount, 0, 0, []);
            var second = report.Stage("beads (2nd pass)", () => tracker.Refine(prealigned, first, result, options));
            if (second.Observations.Count >= observations.Count / 2)
            {
                observations = second.Observations.ToList();
                ImodModel.FromObservations(observations, data.Nx, data.Ny, data.Nz).Write(P(".fid"));
                solveInput = new SolveInput(observations, data.Nx, data.Ny, tilts, tiltAxis);
                var previous = result;
                result = report.Stage("solve (final)", () => new BundleSolver(backend.BundleNormalEquations, ctx.Log).Solve(solveInput, solveOptions));
                report.Results["firstPassResidualMean"] = previous.Overall.Mean;
            }
        }
        if (!markerless && twoSurfaces)
        {
            var (surface, gap) = BeadTracker.SplitSurfaces(result.Landmarks, minimumGap: 2 * beadDiameter!.Value);
            ImodModel.FromObservations(observations, data.Nx, data.Ny, data.Nz, surfaceOf: id => surface.GetValueOrDefault(id, 1)).Write(P(".fid"));
            report.Results["surfaces"] = new { bottom = surface.Values.Count(v => v == 1), top = surface.Values.Count(v => v == 2), gapPixels = gap };
        }
        var refinement = refineProfiles ?? markerless
            ? AxisProfileRefinement(ctx, report, backend, data, prexg, result, forced: refineProfiles == true, cancel)
            : null;
        var files = SolveFiles.Write(result, solveInput, solveOptions, dir, baseName, prexg, P(".prexg"), refinement: refinement);
        report.Outputs.AddRange(files.All.Select(Path.GetFullPath));
        // The same alignment for AreTomo's users.
        AreTomoAln.FromImod(ImodText.ReadXf(files.Xf!), result.Views.Select(v => v.TiltDegrees).ToArray(), data.Nx, data.Ny).Write(P(".aln"));
        report.Outputs.Add(Path.GetFullPath(P(".aln")));
        report.Warnings.AddRange(result.Notes);
        report.Results["observations"] = result.ObservationCount;
        report.Results["landmarks"] = result.Landmarks.Length;
        report.Results["residualMean"] = result.Overall.Mean;
        report.Results["residualRms"] = result.Overall.Rms;
        report.Results["residualPerView"] = result.PerView.Select(v => v.Mean).ToArray();
        report.Results["solvedTilts"] = result.Views.Select(v => v.TiltDegrees).ToArray();
        report.Results["solvedRotations"] = result.Views.Select(v => v.AxisAngleDegrees).ToArray();
        // The tilt axis refined by the solve: the mean solved in-plane rotation (the search or the user gave its start).
        report.Results["tiltAxisSolvedDegrees"] = result.Views.Average(v => v.AxisAngleDegrees);
        report.Results["solvedMagnifications"] = result.Views.Select(v => v.Magnification).ToArray();
        report.Results["gauge"] = result.Gauge;
        if (result.TiltChoice is { } tiltChoice) report.Results["tiltChoice"] = tiltChoice;
        report.Results["specimenLevel"] = SpecimenLevel.Fit(result.Landmarks);
        return new AlignOutcome(P(".prexg"), P(".fid"), files.Xf!, files.Tlt, result, coarse, tilts, tiltAxis, data.Nx, data.Ny);
    }

    /// <summary>
    /// The axis-profile refinement after the solve (<see cref="AxisProfileRefiner"/>): the specimen's thickness is estimated
    /// first; it tapers the strips' edges (its parallax) and, unless <paramref name="forced"/> (--axis-profiles on), decides
    /// whether to refine at all. The per-view corrections that follow the solve's transforms, or null when not refined.
    /// </summary>
    private static Xf[]? AxisProfileRefinement(CliContext ctx, RunReport report, IComputeBackend backend, ImageStack data, Xf[] prexg,
        SolveResult solved, bool forced, CancellationToken cancel)
    {
        var current = solved.Views.Select((v, i) => Xf.Product(prexg[i], v.RawToAligned())).ToArray();
        var solvedTilts = solved.Views.Select(v => v.TiltDegrees).ToArray();
        var zs = solved.Landmarks.Where(l => !l.Flagged).Select(l => l.Z).OrderBy(z => z).ToArray();
        // Checked before the work: an error inside it is a bug (exit 1), not a reason to skip.
        if ((SpecimenThickness.TooSmall(data.Nx, data.Ny) ?? AxisProfileRefiner.TooSmall(data.Nx, data.Ny, new AxisProfileOptions())) is { } tooSmall)
        {
            report.Warnings.Add($"axis-profile refinement skipped: {tooSmall}");
            ctx.Log.LogWarning("axis-profile refinement skipped: {Reason}", tooSmall);
            return null;
        }
        {
            var thick = report.Stage("thickness", () => SpecimenThickness.Estimate(backend, data, current, solvedTilts));
            double limit = Math.Min(data.Nx, data.Ny) / (double)AxisProfilesMaxThicknessFraction;
            report.Results["specimenThickness"] = new { pixels = thick.ThicknessPixels, centrePixels = thick.CentrePixels, bin = thick.Bin };
            if (!forced && !(thick.ThicknessPixels > 0 && thick.ThicknessPixels <= limit))
            {
                ctx.Log.LogInformation("axis profiles: skipped, the specimen's estimated thickness {T:F0} px is more than 1/{F} of the field ({L:F0} px)",
                    thick.ThicknessPixels, AxisProfilesMaxThicknessFraction, limit);
                report.Results["axisProfiles"] = new { applied = false, reason = $"estimated thickness {thick.ThicknessPixels:F0} px > {limit:F0} px" };
                return null;
            }
            var options = new AxisProfileOptions { ZCentre = zs.Length > 0 ? zs[zs.Length / 2] : 0, ThicknessPixels = thick.ThicknessPixels };
            var ap = report.Stage("axis profiles", () => new AxisProfileRefiner(backend.Warper, ctx.Log).Refine(data, current, solvedTilts, options, cancel));
            var last = ap.Rounds[^1];
            report.Results["axisProfiles"] = new
            {
                applied = true, bin = ap.Bin, referenceView = ap.ReferenceView, matches = last.Matches,
                rmsRotationDegrees = last.RmsRotationDegrees, rmsScalePercent = last.RmsScalePercent, rmsShiftPixels = last.RmsShiftPixels,
            };
            return ap.Corrections;
        }
    }

    /// <summary>The run's HTML page beside its JSON report.</summary>
    internal static void WriteHtml(string path, RunReport report, AlignOutcome align, IReadOnlyList<SliceImage> slices)
    {
        report.Outputs.Add(Path.GetFullPath(path));
        HtmlReport.Write(path, report, align.Solve, align.NominalTilts, align.TiltAxis, align.Coarse?.Pairs.Select(q => q.Strength).ToArray(),
            slices, align.Width, align.Height);
    }

    internal static ImageStack Prealign(IComputeBackend backend, ImageStack data, Xf[] prexg)
    {
        var pre = new ImageStack(data.Nx, data.Ny, data.Nz);
        var fill = data.ViewMeans();
        backend.Warper.Warp(data.Data, data.Nx, data.Ny, data.Nz, prexg, fill, new WarpOptions(1, Interpolation.Linear), pre.Data);
        return pre;
    }

    private static List<LandmarkObservation> Landmarks(CliContext ctx, RunReport report, IComputeBackend backend, BeadTracker tracker, ImageStack pre, double[] tilts,
        double tiltAxis, bool markerless, double? beadDiameter, int beadCount, string input)
    {
        if (!markerless)
        {
            var b = tracker.Track(pre, tilts, new BeadTrackOptions { BeadDiameter = beadDiameter!.Value, Beads = beadCount, TiltAxisDegrees = tiltAxis },
                ctx.Progress("beads"));
            WriteBeadMeasures(report, b);
            if (b.Seeded == 0) throw BeadFailure(input, b, "use --markerless for a series without gold");
            report.Warnings.AddRange(b.Warnings);
            report.Results["beadsSeeded"] = b.Seeded;
            report.Results["beadMeanTrackLength"] = b.MeanTrackLength;
            return b.Observations.ToList();
        }
        var patchOptions = new PatchTrackOptions { TiltAxisDegrees = tiltAxis };
        CheckPatchGrid(input, pre.Nx, pre.Ny, patchOptions, MarkerlessSizeFix);
        var r = new PatchTracker(backend.PairCorrelator, ctx.Log).Track(pre, tilts, patchOptions, ctx.Progress("patch"));
        if (r.Landmarks == 0)
            throw new TomalignInputException(input, "no patch could be tracked over enough views", "check --tilt-axis; a featureless series cannot be aligned markerless");
        report.Warnings.AddRange(r.Warnings);
        report.Results["patches"] = r.Patches;
        report.Results["patchPieces"] = r.Landmarks;
        report.Results["patchMedianStrength"] = r.MedianStrength;
        return r.Observations.ToList();
    }
}
