// Generated from the manager API's OpenAPI document by `npm run contracts` (tools/contracts.ts): do not edit.
export interface paths {
    "/api/projects": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["ProjectsController_list"];
        put?: never;
        post: operations["ProjectsController_create"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/projects/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["ProjectsController_get"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/projects/{id}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["ProjectsController_cancel"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/projects/{id}/logs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["ProjectsController_logs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/projects/{id}/logs/{component}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["ProjectsController_log"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/projects/{id}/model": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["ProjectsController_model"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        BuildDurationsView: {
            buildMs: number;
            checkMs: number;
            fetchMs: number;
            pushMs: number;
        };
        CancelProjectDto: {
            /** @example wrong hyperparameters */
            reason?: string;
        };
        ComponentLogView: {
            /**
             * @description `builder`, `aggregator` or a learner
             * @example learner-0
             */
            component: string;
            sizeBytes: number;
            /** Format: date-time */
            updatedAt: string;
        };
        ComponentView: {
            /** @example learner-0 */
            component: string;
            /** @example local */
            driver: string;
            /** Format: date-time */
            endedAt?: string;
            exitCode?: number | null;
            image: string;
            /** @description Where the driver keeps its log */
            logFile?: string;
            /** Format: date-time */
            startedAt: string;
            /** @enum {string} */
            status: "starting" | "running" | "stopped" | "exited";
        };
        CreateProjectDto: {
            /**
             * @description Lowercase letters, digits and dashes; defaults to the repo name
             * @example digits
             */
            name?: string;
            repo: components["schemas"]["RepoDto"];
            resources?: components["schemas"]["ResourcesDto"];
            training: components["schemas"]["TrainingDto"];
        };
        ErrorView: {
            /** @example Bad Request */
            error: string;
            /** @description What is wrong; for an invalid request, every offending field */
            message: string | string[];
            /** @example 400 */
            statusCode: number;
        };
        FailureView: {
            /** Format: date-time */
            at: string;
            reason: string;
            /** @enum {string} */
            stage: "submission" | "build" | "deployment" | "training" | "finalization";
        };
        HistoryEntryView: {
            /** Format: date-time */
            at: string;
            /**
             * @description What caused the change
             * @example build-succeeded
             */
            event: string;
            /**
             * @description null for the submission
             * @enum {string|null}
             */
            from: "SUBMITTED" | "IMAGE_CHECK" | "BUILDING" | "DEPLOYING" | "TRAINING" | "FINALIZING" | "COMPLETED" | "FAILED" | "CANCELLED" | null;
            reason?: string;
            /** @enum {string} */
            to: "SUBMITTED" | "IMAGE_CHECK" | "BUILDING" | "DEPLOYING" | "TRAINING" | "FINALIZING" | "COMPLETED" | "FAILED" | "CANCELLED";
        };
        ImageView: {
            /** @description Found in the registry instead of built */
            cacheHit: boolean;
            digest: string;
            durations: components["schemas"]["BuildDurationsView"];
            /**
             * @description Image reference with its tag
             * @example 127.0.0.1:5000/flops/learners/digits:3f2a-tfjs-4
             */
            reference: string;
            /** @description Git commit, or content-<digest> for a plain directory */
            sourceRevision: string;
        };
        LearnerRefusalView: {
            /** @description Refusals per reason (layout, num-samples, non-finite, norm-bound, strategy) */
            byReason: {
                [key: string]: number;
            };
            lastMessage: string;
            /** @enum {string} */
            lastReason: "layout" | "num-samples" | "non-finite" | "norm-bound" | "strategy";
            lastRound: number;
            learnerId: string;
            /** @description Updates of this learner refused so far */
            total: number;
        };
        LogChunkView: {
            component: string;
            /** @description Complete lines, oldest first */
            lines: string[];
            /** @description Offset to ask from next (after the last complete line) */
            nextOffset: number;
            /** @description Byte offset of the first line */
            offset: number;
            /** @description Size of the whole log now */
            sizeBytes: number;
        };
        ModelView: {
            /**
             * @description Only when one project is fetched: whether the artifact is still in the registry (unknown: the registry did not answer)
             * @enum {string}
             */
            availability?: "stored" | "missing" | "unknown";
            digest: string;
            /** @description OCI reference of the model artifact, by digest */
            reference: string;
            sizeBytes: number;
        };
        PrivacySpentView: {
            delta: number;
            /** @description ε spent so far (all finished rounds), at delta; null: unbounded (no noise) */
            epsilon: number | null;
            /** @description Rounds accounted */
            rounds: number;
        };
        ProjectDetailView: {
            components: components["schemas"]["ComponentView"][];
            /** Format: date-time */
            createdAt: string;
            /**
             * Format: date-time
             * @description When the current state times out; null once the project ended
             */
            deadlineAt: string | null;
            /** @description Stage and reason of a failure */
            failure?: components["schemas"]["FailureView"];
            /**
             * @description Metrics of the final model
             * @example {
             *       "accuracy": 0.91,
             *       "loss": 0.28
             *     }
             */
            finalMetrics?: {
                [key: string]: number;
            };
            /** @description Every state change, oldest first */
            history: components["schemas"]["HistoryEntryView"][];
            id: string;
            /** @description The learner image in the registry */
            image?: components["schemas"]["ImageView"];
            /** @description Where the trained model is stored */
            model?: components["schemas"]["ModelView"];
            name: string;
            /** @description Central DP: the privacy spent so far */
            privacy?: components["schemas"]["PrivacySpentView"];
            /** @description Updates refused per learner (as of the last finished round); learners with none are absent */
            refusals: components["schemas"]["LearnerRefusalView"][];
            repo: components["schemas"]["RepoView"];
            resources: components["schemas"]["ResourcesView"];
            /** @description Metrics of every finished round */
            rounds: components["schemas"]["RoundView"][];
            /** @enum {string} */
            state: "SUBMITTED" | "IMAGE_CHECK" | "BUILDING" | "DEPLOYING" | "TRAINING" | "FINALIZING" | "COMPLETED" | "FAILED" | "CANCELLED";
            /** @description Only when one project is fetched, and MLflow tracking is on: the project’s MLflow run */
            tracking?: components["schemas"]["TrackingView"];
            training: components["schemas"]["TrainingView"];
            /** Format: date-time */
            updatedAt: string;
            /** @description Increments on every change */
            version: number;
        };
        ProjectListView: {
            items: components["schemas"]["ProjectView"][];
            /** @description Projects matching the filter, over all pages */
            total: number;
        };
        ProjectLogsView: {
            /** @description Components with a log, by name */
            components: components["schemas"]["ComponentLogView"][];
        };
        ProjectView: {
            /** Format: date-time */
            createdAt: string;
            /**
             * Format: date-time
             * @description When the current state times out; null once the project ended
             */
            deadlineAt: string | null;
            /** @description Stage and reason of a failure */
            failure?: components["schemas"]["FailureView"];
            /**
             * @description Metrics of the final model
             * @example {
             *       "accuracy": 0.91,
             *       "loss": 0.28
             *     }
             */
            finalMetrics?: {
                [key: string]: number;
            };
            /** @description Every state change, oldest first */
            history: components["schemas"]["HistoryEntryView"][];
            id: string;
            /** @description The learner image in the registry */
            image?: components["schemas"]["ImageView"];
            /** @description Where the trained model is stored */
            model?: components["schemas"]["ModelView"];
            name: string;
            /** @description Central DP: the privacy spent so far */
            privacy?: components["schemas"]["PrivacySpentView"];
            /** @description Updates refused per learner (as of the last finished round); learners with none are absent */
            refusals: components["schemas"]["LearnerRefusalView"][];
            repo: components["schemas"]["RepoView"];
            resources: components["schemas"]["ResourcesView"];
            /** @description Metrics of every finished round */
            rounds: components["schemas"]["RoundView"][];
            /** @enum {string} */
            state: "SUBMITTED" | "IMAGE_CHECK" | "BUILDING" | "DEPLOYING" | "TRAINING" | "FINALIZING" | "COMPLETED" | "FAILED" | "CANCELLED";
            /** @description Only when one project is fetched, and MLflow tracking is on: the project’s MLflow run */
            tracking?: components["schemas"]["TrackingView"];
            training: components["schemas"]["TrainingView"];
            /** Format: date-time */
            updatedAt: string;
            /** @description Increments on every change */
            version: number;
        };
        RepoDto: {
            /**
             * @description Branch, tag or commit (git repos only); default branch if omitted
             * @example main
             */
            ref?: string;
            /**
             * @description Git URL (https, ssh, file) or a local directory path of the ML repo
             * @example examples/digits-tfjs
             */
            url: string;
        };
        RepoView: {
            /** @example main */
            ref?: string;
            /** @example https://github.com/you/digits.git */
            url: string;
        };
        ResourcesDto: {
            /**
             * @description CPU cores per learner
             * @example 1
             */
            cpus?: number;
            /**
             * @description Memory per learner in MiB
             * @example 1024
             */
            memoryMiB?: number;
        };
        ResourcesView: {
            cpus?: number;
            memoryMiB?: number;
        };
        RoundPrivacyView: {
            /** @description Clipping norm used this round */
            clipNorm: number;
            delta: number;
            /** @description ε spent by all rounds so far, at delta (RDP accountant); null: unbounded (no noise) */
            epsilon: number | null;
            /** @description ε of this round alone */
            epsilonRound: number | null;
            /** @description Standard deviation of the noise added to the sum of clipped updates */
            noiseStddev: number;
        };
        RoundView: {
            /** Format: date-time */
            at: string;
            durationMs: number;
            /**
             * @description Sample-weighted mean of the learners’ evaluation of the new model
             * @example {
             *       "accuracy": 0.91,
             *       "loss": 0.28
             *     }
             */
            evalMetrics: {
                [key: string]: number;
            };
            /** @description Learners that evaluated the new model */
            evaluators?: number;
            /**
             * @description Each learner’s evaluation of the new model, by learner id (where the aggregator reported it)
             * @example {
             *       "learner-0": {
             *         "accuracy": 0.9,
             *         "loss": 0.3
             *       }
             *     }
             */
            learnerMetrics?: {
                [key: string]: {
                    [key: string]: number;
                };
            };
            /** @description Learners whose updates were averaged */
            learners: number;
            /** @description Central DP: the privacy spent */
            privacy?: components["schemas"]["RoundPrivacyView"];
            /** @description Updates refused by the aggregator’s checks this round */
            refused?: number;
            round: number;
            samples: number;
            /**
             * @description Sample-weighted mean of the learners’ training metrics
             * @example {
             *       "accuracy": 0.91,
             *       "loss": 0.28
             *     }
             */
            trainMetrics: {
                [key: string]: number;
            };
        };
        TrackingView: {
            /** @description MLflow experiment id (one experiment per project name) */
            experimentId?: string;
            /** @description Why the last attempt to update MLflow failed */
            lastError?: string;
            /** @description Version of the trained model in MLflow’s Model Registry */
            modelVersion?: string;
            /** @description MLflow run id (one run per project) */
            runId?: string;
            /**
             * @description The project’s run in the MLflow UI
             * @example http://127.0.0.1:5500/#/experiments/1/runs/0f3c…
             */
            runUrl?: string;
            /**
             * @description pending: MLflow has not been told everything yet (it is retried)
             * @enum {string}
             */
            status: "synced" | "pending";
        };
        TrainingDto: {
            /**
             * @description Data tags the learners load
             * @example [
             *       "digits"
             *     ]
             */
            dataTags?: string[];
            /**
             * @description Share of the joined learners asked to evaluate each round’s model (at least one)
             * @default 1
             */
            fractionEvaluate: number;
            /**
             * @description Share of the joined learners asked to train each round (at least minLearnersPerRound)
             * @default 1
             */
            fractionFit: number;
            /**
             * @description Passed to the user code
             * @example {
             *       "epochs": 2,
             *       "learningRate": 0.01
             *     }
             */
            hyperparameters?: {
                [key: string]: number | string | boolean;
            };
            /**
             * @description Learners to deploy
             * @example 3
             */
            learners: number;
            /** @description Refuse updates whose change to the global model has a larger L2 norm */
            maxUpdateNorm?: number;
            /** @description Fewest updates a round accepts; defaults to all learners */
            minLearnersPerRound?: number;
            /**
             * @description Central differential privacy: `{ "centralDp": { "noiseMultiplier", "clipping": "fixed"|"adaptive", "clipNorm", "targetUnclippedQuantile" (0.5), "clipLearningRate" (0.2), "clippedCountStddev", "delta" (1e-5), "expectedLearnersPerRound" } }` (mean strategies only). Secure aggregation (`secureAggregation`) is refused: not carried over the wire yet.
             * @example {
             *       "centralDp": {
             *         "noiseMultiplier": 0.5,
             *         "clipping": "fixed",
             *         "clipNorm": 5
             *       }
             *     }
             */
            privacy?: {
                [key: string]: unknown;
            };
            /** @example 5 */
            rounds: number;
            /**
             * @description Seconds a round waits for updates
             * @default 300
             */
            roundTimeoutSeconds: number;
            /**
             * @description Seed handed to the user code
             * @default 42
             */
            seed: number;
            /**
             * @description Aggregation strategy (Flower’s, plus SCAFFOLD)
             * @default fedavg
             * @enum {string}
             */
            strategy: "fedavg" | "fedprox" | "fedavgm" | "fedadagrad" | "fedadam" | "fedyogi" | "qfedavg" | "scaffold" | "fedmedian" | "fedtrimmedavg" | "krum" | "multikrum" | "bulyan";
            /**
             * @description The strategy's parameters (Flower's names in camelCase), validated per strategy; defaults in brackets. fedavg: none; fedprox: proximalMu (undefined); fedavgm: serverLearningRate (1), serverMomentum (0); fedadagrad: eta (0.1), etaL (0.1), tau (0.001); fedadam: eta (0.1), etaL (0.1), tau (0.001), beta1 (0.9), beta2 (0.99); fedyogi: eta (0.01), etaL (0.0316), tau (0.001), beta1 (0.9), beta2 (0.99); qfedavg: q (0.1), clientLearningRate (undefined), lossKey (loss); scaffold: globalLearningRate (1); fedmedian: none; fedtrimmedavg: beta (0.2); krum: numMalicious (0); multikrum: numMalicious (0), numToSelect (1); bulyan: numMalicious (0), selection (iterative-krum). Required: fedprox proximalMu, qfedavg clientLearningRate.
             * @example {
             *       "numMalicious": 1
             *     }
             */
            strategyParams?: {
                [key: string]: number | string;
            };
        };
        TrainingView: {
            dataTags: string[];
            fractionEvaluate: number;
            fractionFit: number;
            hyperparameters: {
                [key: string]: number | string | boolean;
            };
            learners: number;
            maxUpdateNorm?: number;
            minLearnersPerRound: number;
            /**
             * @description Privacy options (central DP), defaults filled in
             * @example {
             *       "centralDp": {
             *         "noiseMultiplier": 0.5,
             *         "clipping": "fixed",
             *         "clipNorm": 5
             *       }
             *     }
             */
            privacy?: {
                [key: string]: unknown;
            };
            rounds: number;
            roundTimeoutSeconds: number;
            seed: number;
            /** @enum {string} */
            strategy: "fedavg" | "fedprox" | "fedavgm" | "fedadagrad" | "fedadam" | "fedyogi" | "qfedavg" | "scaffold" | "fedmedian" | "fedtrimmedavg" | "krum" | "multikrum" | "bulyan";
            /** @description The strategy’s parameters, defaults filled in */
            strategyParams: {
                [key: string]: number | string;
            };
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    ProjectsController_list: {
        parameters: {
            query?: {
                limit?: number;
                offset?: number;
                state?: "SUBMITTED" | "IMAGE_CHECK" | "BUILDING" | "DEPLOYING" | "TRAINING" | "FINALIZING" | "COMPLETED" | "FAILED" | "CANCELLED";
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ProjectListView"];
                };
            };
            /** @description Invalid query; `message` lists every offending parameter */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorView"];
                };
            };
        };
    };
    ProjectsController_create: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateProjectDto"];
            };
        };
        responses: {
            /** @description Stored as SUBMITTED; the orchestrator takes it from there */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ProjectView"];
                };
            };
            /** @description Invalid request; `message` lists every offending field */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorView"];
                };
            };
        };
    };
    ProjectsController_get: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The project, its components, and whether its model is still stored */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ProjectDetailView"];
                };
            };
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorView"];
                };
            };
        };
    };
    ProjectsController_cancel: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CancelProjectDto"];
            };
        };
        responses: {
            /** @description Cancellation requested; watch the state become CANCELLED */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ProjectView"];
                };
            };
            /** @description Invalid request body */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorView"];
                };
            };
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorView"];
                };
            };
            /** @description The project has already ended */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorView"];
                };
            };
        };
    };
    ProjectsController_logs: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The components of the project that have a log (builder, aggregator, learners) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ProjectLogsView"];
                };
            };
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorView"];
                };
            };
        };
    };
    ProjectsController_log: {
        parameters: {
            query?: {
                /** @description Most bytes of lines to return */
                limit?: number;
                /** @description Byte offset to read from: 0, or the nextOffset of the previous answer */
                offset?: number;
            };
            header?: never;
            path: {
                component: string;
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Complete lines from `offset`; to follow the log, ask again from `nextOffset` */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["LogChunkView"];
                };
            };
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorView"];
                };
            };
            /** @description No such project, or no log of that component */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorView"];
                };
            };
        };
    };
    ProjectsController_model: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The trained model: FLT1 tensors (see libs/tensor-codec), as stored in the registry */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/vnd.flops.tensors.v1": string;
                };
            };
            /** @description No such project, no model yet, or the model is gone from the registry */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/vnd.flops.tensors.v1": components["schemas"]["ErrorView"];
                };
            };
            /** @description The registry did not hand the model over */
            502: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/vnd.flops.tensors.v1": components["schemas"]["ErrorView"];
                };
            };
        };
    };
}
